rule prepare_jacquard:
    input:
        unpack(get_jacquard_relabel),
        root=get_jacquard_root,
    output:
        prepared_jacquard(*JACQUARD_ARRAYS),
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
        out=lambda wildcards, output: os.path.dirname(output.skipped),
        classes=config["jacquard"]["classes"],
        size=config["jacquard"]["size"],
        on_bad_sample=config["on_bad_sample"],
        relabel=lambda wildcards, input: (
            f"--relabel {shlex.quote(input.relabel)}"
            if "relabel" in input.keys()
            else ""
        ),
    shell:
        "visionflow jacquard prepare --root {input.root:q} --out {params.out:q} {params.relabel}"
        " --classes {params.classes:q} --size {params.size}"
        " --on-bad-sample {params.on_bad_sample} --workers {threads} 2>&1 | tee {log:q}"
