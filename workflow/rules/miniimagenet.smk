include: "helpers/miniimagenet.smk"


rule prepare_miniimagenet:
    input:
        get_miniimagenet_root,
    output:
        train=f"{PREPARED_MINIIMAGENET}/train.npy",
        val=f"{PREPARED_MINIIMAGENET}/val.npy",
        manifest=f"{PREPARED_MINIIMAGENET}/manifest.parquet",
        skipped=f"{PREPARED_MINIIMAGENET}/skipped.csv",
    log:
        "logs/miniimagenet/prepare.log",
    benchmark:
        "benchmarks/miniimagenet/prepare.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 8
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        out=folder("manifest", of="output"),
        short_side=config["miniimagenet"]["short_side"],
        on_bad_sample=config["on_bad_sample"],
    shell:
        "visionflow miniimagenet prepare --root {input:q} --out {params.out:q}"
        " --short-side {params.short_side} --on-bad-sample {params.on_bad_sample}"
        " --workers {threads} 2>&1 | tee {log:q}"
