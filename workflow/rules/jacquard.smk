include: "helpers/jacquard.smk"


rule prepare_jacquard:
    input:
        unpack(get_jacquard_relabel),
        root=get_jacquard_root,
    output:
        JACQUARD_STORE,
        skipped=f"{PREPARED_JACQUARD}/skipped.csv",
    log:
        "logs/jacquard/prepare.log",
    benchmark:
        "benchmarks/jacquard/prepare.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        out=folder("skipped", of="output"),
        classes=config["jacquard"]["classes"],
        size=config["jacquard"]["size"],
        on_bad_sample=config["on_bad_sample"],
        relabel=optional("--relabel", "relabel"),
    shell:
        "visionflow jacquard prepare --root {input.root:q} --out {params.out:q} {params.relabel}"
        " --classes {params.classes:q} --size {params.size}"
        " --on-bad-sample {params.on_bad_sample} --workers {threads} 2>&1 | tee {log:q}"
