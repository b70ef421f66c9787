include: "helpers/cvat.smk"


rule prepare_cvat:
    input:
        root=get_cvat_root,
    output:
        table=CVAT_TABLE,
        labels=CVAT_LABELS,
        skipped=f"{PREPARED_CVAT}/annotations/skipped.csv",
    log:
        "logs/cvat/prepare.log",
    benchmark:
        "benchmarks/cvat/prepare.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        out=folder("table", of="output"),
        tasks=json.dumps(config["cvat"]["annotations_list"]),
        labels=json.dumps(config["cvat"]["labels"]),
        source=config["cvat"]["source"],
        mongo=json.dumps(config["cvat"]["mongo"], sort_keys=True),
        on_bad_sample=config["on_bad_sample"],
        crop="--crop-4k" if config["cvat"]["crop_4k"] else "",
    shell:
        "visionflow cvat prepare --root {input.root:q} --out {params.out:q}"
        " --tasks {params.tasks:q} --labels {params.labels:q} --source {params.source}"
        " --mongo {params.mongo:q} --on-bad-sample {params.on_bad_sample} {params.crop}"
        " 2>&1 | tee {log:q}"


rule split_cvat:
    input:
        root=get_cvat_root,
        table=CVAT_TABLE,
        weights=get_cvat_split_weights,
    output:
        split=CVAT_SPLIT,
        clusters=f"{PREPARED_CVAT}/split/clusters.csv",
    log:
        "logs/cvat/split.log",
    benchmark:
        "benchmarks/cvat/split.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        method=config["cvat"]["split"]["method"],
        options=get_cvat_split_options,
        out_dir=folder("split", of="output"),
    shell:
        "visionflow --threads {threads} cvat split --table {input.table:q}"
        " --root {input.root:q} --method {params.method} --options {params.options:q}"
        " --out-dir {params.out_dir:q} 2>&1 | tee {log:q}"


rule plot_cvat_split:
    input:
        CVAT_SPLIT,
    output:
        report(
            f"{PREPARED_CVAT}/split/tsne.png",
            caption="../report/cvat_tsne.rst",
            category="Detection",
        ),
    log:
        "logs/cvat/plot_split.log",
    benchmark:
        "benchmarks/cvat/plot_split.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "visionflow cvat plot-split --split {input:q} --out {output:q} 2>&1 | tee {log:q}"
