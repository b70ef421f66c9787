# Representational similarity of trained models, results/<experiment>/analysis/rsm/.


rule rsm_activations:
    input:
        unpack(get_analysis_inputs),
    output:
        "results/{experiment}/analysis/rsm/{model}/activations.npz",
    log:
        "logs/analysis/rsm_activations_{experiment}_{model}.log",
    benchmark:
        "benchmarks/analysis/rsm_activations_{experiment}_{model}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        data=lambda wildcards, input: os.path.dirname(input.store[0]),
        rsm=config["analysis"]["rsm"],
        seed=config["seed"],
    shell:
        "visionflow --threads {threads} analysis activations --experiment {wildcards.experiment}"
        " --ckpt {input.ckpt:q} --data {params.data:q} --split {params.rsm[split]}"
        " --per-class {params.rsm[per_class]} --seed {params.seed}"
        " --batch-size {params.rsm[batch_size]} --out {output:q} > {log:q} 2>&1"


rule rsm_model:
    input:
        "results/{experiment}/analysis/rsm/{model}/activations.npz",
    output:
        table="results/{experiment}/analysis/rsm/{model}/intra_model.csv",
        intra=report(
            "results/{experiment}/analysis/rsm/{model}/intra_model.png",
            caption="../report/rsm_intra_model.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
        layers=report(
            "results/{experiment}/analysis/rsm/{model}/layers.png",
            caption="../report/rsm_layers.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
    log:
        "logs/analysis/rsm_model_{experiment}_{model}.log",
    benchmark:
        "benchmarks/analysis/rsm_model_{experiment}_{model}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.table),
    shell:
        "visionflow analysis rsm-model {input:q} --name {wildcards.experiment}/{wildcards.model}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule rsm_compare:
    input:
        first="results/{experiment}/analysis/rsm/{first}/activations.npz",
        second="results/{experiment}/analysis/rsm/{second}/activations.npz",
    output:
        figure=report(
            "results/{experiment}/analysis/rsm/{first}_vs_{second}.png",
            caption="../report/rsm_compare.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
        table="results/{experiment}/analysis/rsm/{first}_vs_{second}.csv",
    log:
        "logs/analysis/rsm_compare_{experiment}_{first}_vs_{second}.log",
    benchmark:
        "benchmarks/analysis/rsm_compare_{experiment}_{first}_vs_{second}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "visionflow analysis rsm-compare {input.first:q} {input.second:q}"
        " --names {wildcards.first} {wildcards.second} --out {output.figure:q} > {log:q} 2>&1"


rule analysis_all:
    input:
        get_rsm_outputs(),
