include: "helpers/detection.smk"


rule search_detection:
    input:
        store=CVAT_STORE,
        root=get_cvat_root,
        weights=get_detection_weights,
    output:
        f"{DETECTION_RUN}/hpo/worker{{job}}.json",
    log:
        "logs/detection/{variant}/search_job{job}.log",
    benchmark:
        "benchmarks/detection/{variant}/search_job{job}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["detection"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["detection"]["mem_mb"],
        runtime=config["detection"]["runtime"],
    params:
        data=get_cvat_store,
        hpo_dir=folder(of="output"),
        settings=get_detection_search_settings,
        jobs=config["detection"]["hpo"]["jobs"],
    shell:
        "visionflow --threads {threads} detection search --data {params.data:q}"
        " --root {input.root:q} --hpo-dir {params.hpo_dir:q} --settings {params.settings:q}"
        " --job {wildcards.job} --jobs {params.jobs} --out {output:q} 2>&1 | tee {log:q}"


rule select_detection:
    input:
        get_detection_search_jobs,
    output:
        settings=f"{DETECTION_RUN}/hpo/optimal_hpo_settings.json",
        trials=f"{DETECTION_RUN}/hpo/trials.csv",
        history=report(
            f"{DETECTION_RUN}/hpo/history.png",
            caption="../report/detection_hpo.rst",
            category="Detection",
            subcategory="{variant}",
        ),
    log:
        "logs/detection/{variant}/select.log",
    benchmark:
        "benchmarks/detection/{variant}/select.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        hpo_dir=folder("settings", of="output"),
        settings=get_detection_search_settings,
    shell:
        "visionflow detection select --hpo-dir {params.hpo_dir:q}"
        " --settings {params.settings:q} --out {output.settings:q}"
        " --trials {output.trials:q} --figure {output.history:q} 2>&1 | tee {log:q}"


rule train_detection:
    input:
        unpack(get_detection_train_inputs),
        root=get_cvat_root,
        weights=get_detection_weights,
    output:
        metrics=f"{DETECTION_RUN}/metrics.csv",
        best=f"{DETECTION_RUN}/checkpoints/best.ckpt",
        config=f"{DETECTION_RUN}/config.yaml",
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
        data=get_cvat_store,
        run_dir=folder("metrics", of="output"),
        settings=get_detection_settings,
        optimal=optional("--optimal", "optimal"),
    shell:
        "visionflow --threads {threads} detection train --data {params.data:q}"
        " --root {input.root:q} --run-dir {params.run_dir:q} --settings {params.settings:q}"
        " {params.optimal} 2>&1 | tee {log:q}"


rule predict_detection:
    input:
        store=CVAT_STORE,
        root=get_cvat_root,
        ckpt=f"{DETECTION_RUN}/checkpoints/best.ckpt",
    output:
        f"{DETECTION_RUN}/eval/predictions.parquet",
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
        data=get_cvat_store,
        batch_size=config["detection"]["val_batch_size"],
    shell:
        "visionflow --threads {threads} detection predict --ckpt {input.ckpt:q}"
        " --data {params.data:q} --root {input.root:q} --batch-size {params.batch_size}"
        " --out {output:q} 2>&1 | tee {log:q}"


rule test_detection:
    input:
        predictions=f"{DETECTION_RUN}/eval/predictions.parquet",
        store=CVAT_STORE,
    output:
        grid=f"{DETECTION_RUN}/eval/prf.csv",
        per_class=f"{DETECTION_RUN}/eval/prf_per_class.csv",
        coco=f"{DETECTION_RUN}/eval/coco.json",
        figure=report(
            f"{DETECTION_RUN}/eval/prf.png",
            caption="../report/detection_prf.rst",
            category="Detection",
            subcategory="{variant}",
        ),
        curves=report(
            f"{DETECTION_RUN}/eval/prf_curves.png",
            caption="../report/detection_prf_curves.rst",
            category="Detection",
            subcategory="{variant}",
        ),
    log:
        "logs/detection/{variant}/test.log",
    benchmark:
        "benchmarks/detection/{variant}/test.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        data=get_cvat_store,
        scores=json.dumps(config["detection"]["score_thresholds"]),
        ious=json.dumps(config["detection"]["iou_thresholds"]),
    shell:
        "visionflow detection test --predictions {input.predictions:q} --data {params.data:q}"
        " --score-thresholds {params.scores:q} --iou-thresholds {params.ious:q}"
        " --name {wildcards.variant} --grid {output.grid:q} --per-class {output.per_class:q}"
        " --coco {output.coco:q} --figure {output.figure:q} --curves {output.curves:q}"
        " 2>&1 | tee {log:q}"


rule annotate_detection:
    input:
        predictions=f"{DETECTION_RUN}/eval/predictions.parquet",
        store=CVAT_STORE,
    output:
        directory(f"{DETECTION_RUN}/auto_annotation"),
    log:
        "logs/detection/{variant}/annotate.log",
    benchmark:
        "benchmarks/detection/{variant}/annotate.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        data=get_cvat_store,
        threshold=config["detection"]["auto_annotation"]["threshold"],
        iou=config["detection"]["auto_annotation"]["iou"],
    shell:
        "visionflow detection auto-annotate --predictions {input.predictions:q}"
        " --data {params.data:q} --threshold {params.threshold} --iou {params.iou}"
        " --out {output:q} 2>&1 | tee {log:q}"


rule summarize_detection:
    input:
        grids=expand(f"{DETECTION_RUN}/eval/prf.csv", variant=DETECTION_VARIANTS),
        cocos=expand(f"{DETECTION_RUN}/eval/coco.json", variant=DETECTION_VARIANTS),
        metrics=expand(f"{DETECTION_RUN}/metrics.csv", variant=DETECTION_VARIANTS),
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
        "logs/detection/summarize.log",
    benchmark:
        "benchmarks/detection/summarize.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=folders("metrics"),
    shell:
        "visionflow detection summarize --runs {params.runs:q} --figure {output.figure:q}"
        " --out {output.summary:q} --loss {output.loss:q} 2>&1 | tee {log:q}"


rule detection_all:
    input:
        detection_outputs(),
