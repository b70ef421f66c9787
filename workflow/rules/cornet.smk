include: "helpers/cornet.smk"


rule train_cornet:
    input:
        prepared_miniimagenet("train.npy", "val.npy", "manifest.parquet"),
        pretrained=config_weights("cornet.pretrained"),
    output:
        metrics="results/cornet/{run}/metrics.csv",
        best="results/cornet/{run}/checkpoints/best.ckpt",
        config="results/cornet/{run}/config.yaml",
    log:
        "logs/cornet/train_{run}.log",
    benchmark:
        "benchmarks/cornet/train_{run}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["cornet"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["cornet"]["mem_mb"],
        runtime=config["cornet"]["runtime"],
    params:
        data=folder(),
        run_dir=folder("metrics", of="output"),
        settings=get_cornet_settings,
    shell:
        "visionflow --threads {threads} cornet train --data {params.data:q}"
        " --run-dir {params.run_dir:q} --settings {params.settings:q} 2>&1 | tee {log:q}"


rule test_cornet:
    input:
        prepared_miniimagenet("val.npy", "manifest.parquet"),
        ckpt="results/cornet/{run}/checkpoints/best.ckpt",
    output:
        "results/cornet/{run}/eval/test.json",
    log:
        "logs/cornet/test_{run}.log",
    benchmark:
        "benchmarks/cornet/test_{run}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["cornet"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["cornet"]["mem_mb"],
        runtime=60,
    params:
        data=folder(),
        batch_size=64,
    shell:
        "visionflow --threads {threads} cornet test --ckpt {input.ckpt:q}"
        " --data {params.data:q} --split val --selected-on val"
        " --batch-size {params.batch_size} --out {output:q} 2>&1 | tee {log:q}"


rule plot_cornet:
    input:
        metrics=expand("results/cornet/{run}/metrics.csv", run=get_cornet_runs()),
        configs=expand("results/cornet/{run}/config.yaml", run=get_cornet_runs()),
    output:
        top1=report(
            "results/cornet/top1.png",
            caption="../report/cornet_top1.rst",
            category="CORnet-100",
        ),
        loss=report(
            "results/cornet/loss.png",
            caption="../report/cornet_loss.rst",
            category="CORnet-100",
        ),
    log:
        "logs/cornet/plot.log",
    benchmark:
        "benchmarks/cornet/plot.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=folders("metrics"),
    shell:
        "visionflow cornet plot --runs {params.runs:q} --top1 {output.top1:q}"
        " --loss {output.loss:q} 2>&1 | tee {log:q}"


rule summarize_cornet:
    input:
        metrics=expand("results/cornet/{run}/metrics.csv", run=get_cornet_runs()),
        tests=expand("results/cornet/{run}/eval/test.json", run=get_cornet_runs()),
    output:
        report(
            "results/cornet/summary.csv",
            caption="../report/cornet_summary.rst",
            category="CORnet-100",
        ),
    log:
        "logs/cornet/summarize.log",
    benchmark:
        "benchmarks/cornet/summarize.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=folders("metrics"),
    shell:
        "visionflow cornet summarize --runs {params.runs:q} --out {output:q} 2>&1 | tee {log:q}"


rule cornet_all:
    input:
        cornet_outputs(),
