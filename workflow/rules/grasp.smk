include: "helpers/grasp.smk"


rule train_grasp:
    input:
        JACQUARD_STORE,
        alexnet=config_weights("grasp.alexnet_weights"),
    output:
        metrics="results/grasp/{task}/metrics.csv",
        final="results/grasp/{task}/checkpoints/final.ckpt",
        config="results/grasp/{task}/config.yaml",
    log:
        "logs/grasp/train_{task}.log",
    benchmark:
        "benchmarks/grasp/train_{task}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["grasp"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["grasp"]["mem_mb"],
        runtime=config["grasp"]["runtime"],
    params:
        data=folder(),
        run_dir=folder("metrics", of="output"),
        settings=get_grasp_settings,
    shell:
        "visionflow --threads {threads} grasp train --data {params.data:q}"
        " --run-dir {params.run_dir:q} --settings {params.settings:q} 2>&1 | tee {log:q}"


rule test_grasp:
    input:
        JACQUARD_STORE,
        ckpt=get_grasp_checkpoint,
    output:
        "results/grasp/{task}/eval/{split}.json",
    log:
        "logs/grasp/test_{task}_{split}.log",
    benchmark:
        "benchmarks/grasp/test_{task}_{split}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["grasp"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["grasp"]["mem_mb"],
        runtime=60,
    params:
        data=folder(),
        batch_size=16,
    shell:
        "visionflow --threads {threads} grasp test --ckpt {input.ckpt:q} --task {wildcards.task}"
        " --data {params.data:q} --split {wildcards.split}"
        " --batch-size {params.batch_size} --out {output:q} 2>&1 | tee {log:q}"


rule vis_grasp:
    input:
        JACQUARD_STORE,
        ckpt=get_grasp_checkpoint,
    output:
        predictions=report(
            "results/grasp/{task}/vis/predictions.png",
            caption="../report/grasp_predictions.rst",
            category="NeuroVis",
            subcategory="{task}",
        ),
    log:
        "logs/grasp/vis_{task}.log",
    benchmark:
        "benchmarks/grasp/vis_{task}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        data=folder(),
        samples=config["grasp"]["vis_samples"],
    shell:
        "visionflow grasp vis --ckpt {input.ckpt:q} --task {wildcards.task} --data {params.data:q}"
        " --samples {params.samples} --out {output.predictions:q} 2>&1 | tee {log:q}"


rule plot_grasp_confusion:
    input:
        JACQUARD_STORE,
        ckpt=grasp_weights("cls"),
    output:
        report(
            "results/grasp/cls/vis/confusion.png",
            caption="../report/grasp_confusion.rst",
            category="NeuroVis",
            subcategory="cls",
        ),
    log:
        "logs/grasp/plot_confusion.log",
    benchmark:
        "benchmarks/grasp/plot_confusion.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        data=folder(),
    shell:
        "visionflow grasp confusion --ckpt {input.ckpt:q} --task cls --data {params.data:q}"
        " --out {output:q} 2>&1 | tee {log:q}"


rule plot_grasp:
    input:
        metrics=expand("results/grasp/{task}/metrics.csv", task=trained_grasp_tasks()),
        configs=expand("results/grasp/{task}/config.yaml", task=trained_grasp_tasks()),
    output:
        accuracy=report(
            "results/grasp/accuracy.png",
            caption="../report/grasp_accuracy.rst",
            category="NeuroVis",
        ),
        loss=report(
            "results/grasp/loss.png",
            caption="../report/grasp_loss.rst",
            category="NeuroVis",
        ),
    log:
        "logs/grasp/plot.log",
    benchmark:
        "benchmarks/grasp/plot.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=folders("metrics"),
    shell:
        "visionflow grasp plot --runs {params.runs:q} --accuracy {output.accuracy:q}"
        " --loss {output.loss:q} 2>&1 | tee {log:q}"


rule summarize_grasp:
    input:
        configs=expand("results/grasp/{task}/config.yaml", task=trained_grasp_tasks()),
        tests=expand(
            "results/grasp/{task}/eval/{split}.json",
            task=config["grasp"]["tasks"],
            split=["train", "test"],
        ),
    output:
        csv=report(
            "results/grasp/summary.csv",
            caption="../report/grasp_summary.rst",
            category="NeuroVis",
        ),
        markdown="results/grasp/summary.md",
    log:
        "logs/grasp/summarize.log",
    benchmark:
        "benchmarks/grasp/summarize.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=grasp_run_dirs,
    shell:
        "visionflow grasp summarize --runs {params.runs:q} --out {output.csv:q}"
        " --markdown {output.markdown:q} 2>&1 | tee {log:q}"


rule grasp_all:
    input:
        grasp_outputs(),
