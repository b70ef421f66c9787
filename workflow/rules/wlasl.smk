include: "helpers/wlasl.smk"


rule prepare_wlasl:
    input:
        get_wlasl_root,
        unpack(get_wlasl_split_file),
    output:
        prepared_wlasl("{wlasl_split}", *WLASL_STORE),
        skipped=f"{PREPARED_WLASL}/{{wlasl_split}}/skipped.csv",
    log:
        "logs/wlasl/prepare_{wlasl_split}.log",
    benchmark:
        "benchmarks/wlasl/prepare_{wlasl_split}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=480,
    params:
        out=folder("skipped", of="output"),
        index=lambda wildcards, input: os.path.join(input[0], config["wlasl"]["index"]),
        videos=lambda wildcards, input: os.path.join(
            input[0], config["wlasl"]["videos"]
        ),
        split_file=optional("--split-file", "split_file"),
        size=config["wlasl"]["size"],
        crop=config["wlasl"]["crop"],
        min_frames=config["wlasl"]["min_frames"],
        on_bad_sample=config["on_bad_sample"],
        codec=CODEC,  # not passed: a new clip format re-runs the conversion
    shell:
        "visionflow wlasl prepare --index {params.index:q} --videos {params.videos:q}"
        " --out {params.out:q} --split {wildcards.wlasl_split} {params.split_file}"
        " --size {params.size} --crop {params.crop} --min-frames {params.min_frames}"
        " --on-bad-sample {params.on_bad_sample} --workers {threads} 2>&1 | tee {log:q}"
