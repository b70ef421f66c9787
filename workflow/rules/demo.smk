# Synthetic raw datasets, defined only when the config asks for them (config/config.yaml).
# Each writes its `demo.out` only; a `root` elsewhere is real data and must exist.


if config["miniimagenet"]["demo"]:

    rule demo_miniimagenet:
        output:
            directory(config["miniimagenet"]["demo"]["out"]),
        log:
            "logs/demo/miniimagenet.log",
        benchmark:
            "benchmarks/demo/miniimagenet.tsv"
        conda:
            "../../envs/visionflow.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=config["miniimagenet"]["demo"],
            seed=config["seed"],
        shell:
            "visionflow demo miniimagenet --out {output:q} --seed {params.seed}"
            " --classes {params.demo[classes]}"
            " --train-per-class {params.demo[train_per_class]}"
            " --val-per-class {params.demo[val_per_class]} 2>&1 | tee {log:q}"


if config["jacquard"]["demo"]:

    rule demo_jacquard:
        output:
            directory(config["jacquard"]["demo"]["out"]),
        log:
            "logs/demo/jacquard.log",
        benchmark:
            "benchmarks/demo/jacquard.tsv"
        conda:
            "../../envs/visionflow.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=config["jacquard"]["demo"],
            classes=config["jacquard"]["classes"],
            seed=config["seed"],
        shell:
            "visionflow demo jacquard --out {output:q} --seed {params.seed}"
            " --classes {params.classes:q}"
            " --objects-per-class {params.demo[objects_per_class]}"
            " --views-per-object {params.demo[views_per_object]}"
            " --size {params.demo[size]} 2>&1 | tee {log:q}"


if config["wlasl"]["demo"]:

    rule demo_wlasl:
        output:
            directory(config["wlasl"]["demo"]["out"]),
        log:
            "logs/demo/wlasl.log",
        benchmark:
            "benchmarks/demo/wlasl.tsv"
        conda:
            "../../envs/visionflow.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=config["wlasl"]["demo"],
            seed=config["seed"],
        shell:
            "visionflow demo wlasl --out {output:q} --seed {params.seed}"
            " --glosses {params.demo[glosses]} --train {params.demo[train]}"
            " --val {params.demo[val]} --test {params.demo[test]} 2>&1 | tee {log:q}"


if config["cvat"]["demo"]:

    rule demo_cvat:
        output:
            directory(config["cvat"]["demo"]["out"]),
        log:
            "logs/demo/cvat.log",
        benchmark:
            "benchmarks/demo/cvat.tsv"
        conda:
            "../../envs/visionflow.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=config["cvat"]["demo"],
            labels=config["cvat"]["labels"],
            seed=config["seed"],
        shell:
            "visionflow demo cvat --out {output:q} --seed {params.seed}"
            " --tasks {params.demo[tasks]} --frames-per-task {params.demo[frames_per_task]}"
            " --size {params.demo[size]} --labels {params.labels:q} 2>&1 | tee {log:q}"


if config["saliency"]["demo"]:

    rule demo_saliency:
        output:
            directory(config["saliency"]["demo"]["out"]),
        log:
            "logs/demo/saliency.log",
        benchmark:
            "benchmarks/demo/saliency.tsv"
        conda:
            "../../envs/visionflow.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=config["saliency"]["demo"],
            seed=config["seed"],
        shell:
            "visionflow demo saliency --out {output:q} --seed {params.seed}"
            " --images {params.demo[images]} --size {params.demo[size]} 2>&1 | tee {log:q}"
