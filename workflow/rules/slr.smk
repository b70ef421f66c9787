# One job per entry of config["slr"]["runs"]; the GPU limit (the default profile, or
# `--resources gpu=N`) turns the list into a queue.


include: "helpers/slr.smk"


rule train_slr:
    input:
        prepared_wlasl("{wlasl_split}", *WLASL_STORE),
        unpack(get_slr_init_from),
        pretrained=config_weights("slr.pretrained"),
    output:
        metrics=f"{SLR_RUN}/metrics.csv",
        best=f"{SLR_RUN}/checkpoints/best.ckpt",
        config=f"{SLR_RUN}/config.yaml",
        data_info=f"{SLR_RUN}/data_info.json",
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
        data=folder(),
        run_dir=folder("metrics", of="output"),
        settings=get_slr_settings,
    shell:
        "visionflow --threads {threads} slr train --data {params.data:q}"
        " --run-dir {params.run_dir:q} --settings {params.settings:q} 2>&1 | tee {log:q}"


rule test_slr:
    input:
        prepared_wlasl("{wlasl_split}", *WLASL_STORE),
        best=f"{SLR_RUN}/checkpoints/best.ckpt",
        metrics=f"{SLR_RUN}/metrics.csv",
        data_info=f"{SLR_RUN}/data_info.json",
    output:
        result=f"{SLR_RUN}/results/best_val_loss.json",
        bargraph=report(
            f"{SLR_RUN}/results/best_test-bargraph.png",
            caption="../report/slr_bargraph.rst",
            category="SLR",
            subcategory="{wlasl_split} {slr_model}_{exp}",
        ),
        confmat=report(
            f"{SLR_RUN}/results/best_test-confmat.png",
            caption="../report/slr_confmat.rst",
            category="SLR",
            subcategory="{wlasl_split} {slr_model}_{exp}",
        ),
        heatmap=report(
            f"{SLR_RUN}/results/best_test-heatmap.png",
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
        data=folder(),
        run_dir=folder("metrics"),
        batch_size=config["slr"]["eval_batch_size"],
    shell:
        "visionflow --threads {threads} slr test full {params.run_dir:q}"
        " --data {params.data:q} --batch-size {params.batch_size} 2>&1 | tee {log:q}"


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
        runs=folders("metrics"),
    shell:
        "visionflow slr plot --runs {params.runs:q} --top1 {output.top1:q}"
        " --loss {output.loss:q} --shuffled {output.shuffled:q} 2>&1 | tee {log:q}"


rule summarize_slr:
    input:
        metrics=expand("{run}/metrics.csv", run=get_slr_run_dirs()),
        results=expand("{run}/results/best_val_loss.json", run=get_slr_run_dirs()),
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
        runs=folders("metrics"),
    shell:
        "visionflow slr summarize --runs {params.runs:q} --out {output:q} 2>&1 | tee {log:q}"


rule slr_all:
    input:
        slr_outputs(),
