include: "helpers/saliency.smk"


rule prepare_saliency:
    input:
        root=config["saliency"]["root"],
    output:
        SALIENCY_STORE,
    log:
        "logs/saliency/prepare.log",
    benchmark:
        "benchmarks/saliency/prepare.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["saliency"]["threads"]
    resources:
        mem_mb=config["saliency"]["mem_mb"],
        runtime=60,
    params:
        out=folder(of="output"),
        size=config["saliency"]["size"],
        splits=config["saliency"]["splits"],
        seed=config["seed"],
        on_bad_sample=config["on_bad_sample"],
    shell:
        "visionflow saliency prepare --root {input.root:q} --out {params.out:q}"
        " --size {params.size} --splits {params.splits} --seed {params.seed}"
        " --on-bad-sample {params.on_bad_sample} --workers {threads} 2>&1 | tee {log:q}"


rule train_saliency:
    input:
        unpack(get_saliency_stage_inputs),
    output:
        export="results/saliency/{point}/{saliency_stage}/export.pt",
        metrics="results/saliency/{point}/{saliency_stage}/metrics.csv",
    log:
        "logs/saliency/{point}/{saliency_stage}.log",
    benchmark:
        "benchmarks/saliency/{point}/{saliency_stage}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["saliency"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["saliency"]["mem_mb"],
        runtime=config["saliency"]["runtime"],
    params:
        data=folder("store"),
        run_dir=folder("export", of="output"),
        settings=get_saliency_settings,
        previous=optional("--previous", "previous"),
        weights=optional("--weights", "weights"),
    shell:
        "visionflow --threads {threads} saliency train {wildcards.saliency_stage}"
        " --data {params.data:q} --run-dir {params.run_dir:q}"
        " --settings {params.settings:q} {params.previous} {params.weights} 2>&1 | tee {log:q}"


rule test_saliency:
    input:
        SALIENCY_STORE,
        export=get_saliency_final,
    output:
        table="results/saliency/{point}/test/metrics.csv",
        images="results/saliency/{point}/test/images.csv",
        figure=report(
            "results/saliency/{point}/test/metrics.png",
            caption="../report/saliency_test.rst",
            category="Saliency",
            subcategory="{point}",
        ),
    log:
        "logs/saliency/{point}/test.log",
    benchmark:
        "benchmarks/saliency/{point}/test.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["saliency"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["saliency"]["mem_mb"],
        runtime=60,
    params:
        data=folder(),
        split=config["saliency"]["test"]["split"],
        batch_size=config["saliency"]["test"]["batch_size"],
        tasks=json.dumps(config["saliency"]["test"]["tasks"]),
        processing=lambda wildcards: saliency_processing(wildcards.point),
    shell:
        "visionflow --threads {threads} saliency test --export {input.export:q}"
        " --data {params.data:q} --split {params.split} --batch-size {params.batch_size}"
        " --tasks {params.tasks:q} --processing {params.processing:q}"
        " --out {output.table:q} --per-image {output.images:q}"
        " --figure {output.figure:q} --name {wildcards.point} 2>&1 | tee {log:q}"


rule run_saliency:
    input:
        images=get_saliency_run_input,
        export=get_saliency_final,
    output:
        maps=directory("results/saliency/{point}/run"),
        figure=report(
            "results/saliency/{point}/run.png",
            caption="../report/saliency_run.rst",
            category="Saliency",
            subcategory="{point}",
        ),
    log:
        "logs/saliency/{point}/run.log",
    benchmark:
        "benchmarks/saliency/{point}/run.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["saliency"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["saliency"]["mem_mb"],
        runtime=60,
    params:
        images=saliency_run_images(),
        size=config["saliency"]["size"],
        shown=config["saliency"]["run"]["shown"],
        tasks=json.dumps(config["saliency"]["run"]["tasks"]),
        processing=lambda wildcards: saliency_processing(wildcards.point),
    shell:
        "visionflow --threads {threads} saliency run --export {input.export:q}"
        " --images {params.images:q} --size {params.size} --out {output.maps:q}"
        " --tasks {params.tasks:q} --processing {params.processing:q}"
        " --figure {output.figure:q} --shown {params.shown} 2>&1 | tee {log:q}"


rule evaluate_saliency:
    input:
        unpack(get_saliency_eval_inputs),
    output:
        tables=directory("results/saliency/{point}/eval"),
    log:
        "logs/saliency/{point}/eval.log",
    benchmark:
        "benchmarks/saliency/{point}/eval.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: config["saliency"]["threads"]
    resources:
        gpu=1,
        mem_mb=config["saliency"]["mem_mb"],
        runtime=config["saliency"]["runtime"],
    params:
        settings=saliency_eval_settings(),
        processing=lambda wildcards: saliency_processing(wildcards.point),
    shell:
        "visionflow --threads {threads} saliency eval --export {input.export:q}"
        " --settings {params.settings:q} --processing {params.processing:q}"
        " --out {output.tables:q} 2>&1 | tee {log:q}"


rule summarize_saliency:
    input:
        expand("results/saliency/{point}/test/metrics.csv", point=get_saliency_points()),
    output:
        table=report(
            "results/saliency/summary.csv",
            caption="../report/saliency_summary.rst",
            category="Saliency",
        ),
        figure=report(
            "results/saliency/summary.png",
            caption="../report/saliency_summary.rst",
            category="Saliency",
        ),
    log:
        "logs/saliency/summary.log",
    benchmark:
        "benchmarks/saliency/summary.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        grid=json.dumps(saliency_grid()),
    shell:
        "visionflow saliency summarize {input:q} --grid {params.grid:q}"
        " --out {output.table:q} --figure {output.figure:q} 2>&1 | tee {log:q}"


rule saliency_all:
    input:
        saliency_outputs(),
