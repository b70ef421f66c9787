rule search_detection:
    input:
        table=CVAT_TABLE,
        labels=CVAT_LABELS,
        split=CVAT_SPLIT,
        root=get_cvat_root,
    output:
        "results/detection/{variant}/hpo/worker{worker}.json",
    log:
        "logs/detection/{variant}/search_worker{worker}.log",
    benchmark:
        "benchmarks/detection/{variant}/search_worker{worker}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["detection"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["detection"]["mem_mb"],
        runtime=config["detection"]["runtime"],
    params:
        hpo_dir=lambda wildcards, output: os.path.dirname(output[0]),
        settings=get_detection_search_settings,
        jobs=config["detection"]["hpo"]["jobs"],
    shell:
        "visionflow --threads {threads} detection search --table {input.table:q}"
        " --labels {input.labels:q} --split {input.split:q} --root {input.root:q}"
        " --hpo-dir {params.hpo_dir:q} --settings {params.settings:q}"
        " --worker {wildcards.worker} --workers {params.jobs} --out {output:q} 2>&1 | tee {log:q}"


rule optimal_detection:
    input:
        get_detection_workers,
    output:
        settings="results/detection/{variant}/hpo/optimal_hpo_settings.json",
        trials="results/detection/{variant}/hpo/trials.csv",
        history=report(
            "results/detection/{variant}/hpo/history.png",
            caption="../report/detection_hpo.rst",
            category="Detection",
            subcategory="{variant}",
        ),
    log:
        "logs/detection/{variant}/optimal.log",
    benchmark:
        "benchmarks/detection/{variant}/optimal.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        hpo_dir=lambda wildcards, output: os.path.dirname(output.settings),
        settings=get_detection_search_settings,
    shell:
        "visionflow detection optimal --hpo-dir {params.hpo_dir:q}"
        " --settings {params.settings:q} --out {output.settings:q}"
        " --trials {output.trials:q} --figure {output.history:q} > {log:q} 2>&1"


rule train_detection:
    input:
        unpack(get_detection_train_inputs),
        root=get_cvat_root,
    output:
        metrics="results/detection/{variant}/metrics.csv",
        best="results/detection/{variant}/checkpoints/best.ckpt",
        config="results/detection/{variant}/config.yaml",
    log:
        "logs/detection/{variant}/train.log",
    benchmark:
        "benchmarks/detection/{variant}/train.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["detection"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["detection"]["mem_mb"],
        runtime=config["detection"]["runtime"],
    params:
        run_dir=lambda wildcards, output: os.path.dirname(output.metrics),
        settings=get_detection_settings,
        optimal=lambda wildcards, input: (
            f"--optimal {shlex.quote(input.optimal)}"
            if "optimal" in input.keys()
            else ""
        ),
    shell:
        "visionflow --threads {threads} detection train --table {input.table:q}"
        " --labels {input.labels:q} --split {input.split:q} --root {input.root:q}"
        " --run-dir {params.run_dir:q} --settings {params.settings:q} {params.optimal}"
        " 2>&1 | tee {log:q}"


rule predict_detection:
    input:
        table=CVAT_TABLE,
        labels=CVAT_LABELS,
        split=CVAT_SPLIT,
        root=get_cvat_root,
        ckpt="results/detection/{variant}/checkpoints/best.ckpt",
    output:
        "results/detection/{variant}/eval/predictions.parquet",
    log:
        "logs/detection/{variant}/predict.log",
    benchmark:
        "benchmarks/detection/{variant}/predict.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["detection"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["detection"]["mem_mb"],
        runtime=60,
    params:
        batch_size=config["detection"]["val_batch_size"],
    shell:
        "visionflow --threads {threads} detection predict --ckpt {input.ckpt:q}"
        " --table {input.table:q} --labels {input.labels:q} --split {input.split:q}"
        " --root {input.root:q} --batch-size {params.batch_size} --out {output:q}"
        " 2>&1 | tee {log:q}"


rule evaluate_detection:
    input:
        predictions="results/detection/{variant}/eval/predictions.parquet",
        table=CVAT_TABLE,
        labels=CVAT_LABELS,
        split=CVAT_SPLIT,
    output:
        grid="results/detection/{variant}/eval/prf.csv",
        coco="results/detection/{variant}/eval/coco.json",
        figure=report(
            "results/detection/{variant}/eval/prf.png",
            caption="../report/detection_prf.rst",
            category="Detection",
            subcategory="{variant}",
        ),
    log:
        "logs/detection/{variant}/evaluate.log",
    benchmark:
        "benchmarks/detection/{variant}/evaluate.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        scores=json.dumps(config["detection"]["score_thresholds"]),
        ious=json.dumps(config["detection"]["iou_thresholds"]),
    shell:
        "visionflow detection evaluate --predictions {input.predictions:q}"
        " --table {input.table:q} --labels {input.labels:q} --split {input.split:q}"
        " --score-thresholds {params.scores:q} --iou-thresholds {params.ious:q}"
        " --name {wildcards.variant} --grid {output.grid:q} --coco {output.coco:q} --figure {output.figure:q}"
        " > {log:q} 2>&1"


rule auto_annotate_detection:
    input:
        predictions="results/detection/{variant}/eval/predictions.parquet",
        table=CVAT_TABLE,
        labels=CVAT_LABELS,
        split=CVAT_SPLIT,
    output:
        directory("results/detection/{variant}/auto_annotation"),
    log:
        "logs/detection/{variant}/auto_annotate.log",
    benchmark:
        "benchmarks/detection/{variant}/auto_annotate.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        threshold=config["detection"]["auto_annotation"]["threshold"],
        iou=config["detection"]["auto_annotation"]["iou"],
    shell:
        "visionflow detection auto-annotate --predictions {input.predictions:q}"
        " --table {input.table:q} --labels {input.labels:q} --split {input.split:q}"
        " --threshold {params.threshold} --iou {params.iou} --out {output:q} > {log:q} 2>&1"


rule compare_detection:
    input:
        grids=expand(
            "results/detection/{variant}/eval/prf.csv",
            variant=get_detection_variants(),
        ),
        cocos=expand(
            "results/detection/{variant}/eval/coco.json",
            variant=get_detection_variants(),
        ),
        metrics=expand(
            "results/detection/{variant}/metrics.csv", variant=get_detection_variants()
        ),
    output:
        figure=report(
            "results/detection/comparison.png",
            caption="../report/detection_comparison.rst",
            category="Detection",
        ),
        summary=report(
            "results/detection/summary.csv",
            caption="../report/detection_summary.rst",
            category="Detection",
        ),
        loss=report(
            "results/detection/loss.png",
            caption="../report/detection_loss.rst",
            category="Detection",
        ),
    log:
        "logs/detection/compare.log",
    benchmark:
        "benchmarks/detection/compare.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=lambda wildcards, input: [os.path.dirname(m) for m in input.metrics],
    shell:
        "visionflow detection compare --runs {params.runs:q} --figure {output.figure:q}"
        " --summary {output.summary:q} --loss {output.loss:q} > {log:q} 2>&1"


rule detection_all:
    input:
        get_detection_outputs(),
