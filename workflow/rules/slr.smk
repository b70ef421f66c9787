# One job per entry of config["slr"]["runs"]; `--resources gpu=1` turns the list into a queue.


rule train_slr:
    input:
        prepared_wlasl("{wlasl_split}", *WLASL_STORE),
    output:
        metrics="results/slr/{wlasl_split}/{slr_model}_{exp}/metrics.csv",
        best="results/slr/{wlasl_split}/{slr_model}_{exp}/checkpoints/best.ckpt",
        config="results/slr/{wlasl_split}/{slr_model}_{exp}/config.yaml",
        data_info="results/slr/{wlasl_split}/{slr_model}_{exp}/data_info.json",
    log:
        "logs/slr/train_{wlasl_split}_{slr_model}_{exp}.log",
    benchmark:
        "benchmarks/slr/train_{wlasl_split}_{slr_model}_{exp}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["slr"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["slr"]["mem_mb"],
        runtime=config["slr"]["runtime"],
    params:
        data=lambda wildcards, input: os.path.dirname(input[0]),
        run_dir=lambda wildcards, output: os.path.dirname(output.metrics),
        settings=get_slr_settings,
    shell:
        "visionflow --threads {threads} slr train --data {params.data:q}"
        " --run-dir {params.run_dir:q} --settings {params.settings:q} 2>&1 | tee {log:q}"


rule test_slr:
    input:
        prepared_wlasl("{wlasl_split}", *WLASL_STORE),
        best="results/slr/{wlasl_split}/{slr_model}_{exp}/checkpoints/best.ckpt",
        metrics="results/slr/{wlasl_split}/{slr_model}_{exp}/metrics.csv",
        data_info="results/slr/{wlasl_split}/{slr_model}_{exp}/data_info.json",
    output:
        result="results/slr/{wlasl_split}/{slr_model}_{exp}/results/best_val_loss.json",
        bargraph=report(
            "results/slr/{wlasl_split}/{slr_model}_{exp}/results/best_test-bargraph.png",
            caption="../report/slr_bargraph.rst",
            category="SLR",
            subcategory="{wlasl_split} {slr_model}_{exp}",
        ),
        confmat=report(
            "results/slr/{wlasl_split}/{slr_model}_{exp}/results/best_test-confmat.png",
            caption="../report/slr_confmat.rst",
            category="SLR",
            subcategory="{wlasl_split} {slr_model}_{exp}",
        ),
        heatmap=report(
            "results/slr/{wlasl_split}/{slr_model}_{exp}/results/best_test-heatmap.png",
            caption="../report/slr_heatmap.rst",
            category="SLR",
            subcategory="{wlasl_split} {slr_model}_{exp}",
        ),
    log:
        "logs/slr/test_{wlasl_split}_{slr_model}_{exp}.log",
    benchmark:
        "benchmarks/slr/test_{wlasl_split}_{slr_model}_{exp}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["slr"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["slr"]["mem_mb"],
        runtime=120,
    params:
        data=lambda wildcards, input: os.path.dirname(input[0]),
        run_dir=lambda wildcards, input: os.path.dirname(input.metrics),
        batch_size=config["slr"]["eval_batch_size"],
    shell:
        "visionflow --threads {threads} slr test full {params.run_dir:q}"
        " --data {params.data:q} --batch-size {params.batch_size} > {log:q} 2>&1"


rule plot_slr:
    input:
        results=expand("{run}/results/best_val_loss.json", run=get_slr_run_dirs()),
        metrics=expand("{run}/metrics.csv", run=get_slr_run_dirs()),
    output:
        top1=report(
            "results/slr/top1.png", caption="../report/slr_top1.rst", category="SLR"
        ),
        loss=report(
            "results/slr/loss.png", caption="../report/slr_loss.rst", category="SLR"
        ),
        shuffled=report(
            "results/slr/shuffled.png",
            caption="../report/slr_shuffled.rst",
            category="SLR",
        ),
    log:
        "logs/slr/plot.log",
    benchmark:
        "benchmarks/slr/plot.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=get_slr_run_dirs(),
    shell:
        "visionflow slr plot --runs {params.runs:q} --top1 {output.top1:q}"
        " --loss {output.loss:q} --shuffled {output.shuffled:q} > {log:q} 2>&1"


rule summarize_slr:
    input:
        expand("{run}/results/best_val_loss.json", run=get_slr_run_dirs()),
    output:
        report(
            "results/slr/summary.csv",
            caption="../report/slr_summary.rst",
            category="SLR",
        ),
    log:
        "logs/slr/summarize.log",
    benchmark:
        "benchmarks/slr/summarize.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        runs=get_slr_run_dirs(),
    shell:
        "visionflow slr summarize --runs {params.runs:q} --out {output:q} > {log:q} 2>&1"


rule slr_all:
    input:
        get_slr_figures(),
