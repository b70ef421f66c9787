# What trained models learned: RSM, neuron Shapley, attributions, CLIP labels.


include: "helpers/analysis.smk"


rule record_rsm:
    input:
        unpack(get_analysis_inputs),
    output:
        "results/{experiment}/analysis/rsm/{model}/activations.npz",
    log:
        "logs/analysis/record_rsm_{experiment}_{model}.log",
    benchmark:
        "benchmarks/analysis/record_rsm_{experiment}_{model}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        data=folder("store"),
        rsm=config["analysis"]["rsm"],
        seed=config["seed"],
        sample=get_sample_options,
    shell:
        "visionflow --threads {threads} analysis activations --experiment {wildcards.experiment}"
        " --ckpt {input.ckpt:q} {params.sample} --data {params.data:q} --split {params.rsm[split]}"
        " --per-class {params.rsm[per_class]} --seed {params.seed}"
        " --batch-size {params.rsm[batch_size]} --out {output:q} 2>&1 | tee {log:q}"


rule compute_rsm:
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
        "logs/analysis/compute_rsm_{experiment}_{model}.log",
    benchmark:
        "benchmarks/analysis/compute_rsm_{experiment}_{model}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out_dir=folder("table", of="output"),
    shell:
        "visionflow analysis rsm-model {input:q} --name {wildcards.experiment}/{wildcards.model}"
        " --out-dir {params.out_dir:q} 2>&1 | tee {log:q}"


rule compare_rsm:
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
        "logs/analysis/compare_rsm_{experiment}_{first}_vs_{second}.log",
    benchmark:
        "benchmarks/analysis/compare_rsm_{experiment}_{first}_vs_{second}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "visionflow analysis rsm-compare {input.first:q} {input.second:q}"
        " --names {wildcards.first} {wildcards.second} --out {output.figure:q} 2>&1 | tee {log:q}"


rule compare_rsm_top_k:
    input:
        unpack(get_rsm_top_k_inputs),
    output:
        figure=report(
            f"{RSM_TOP_K}.png",
            caption="../report/rsm_top_k.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
        table=f"{RSM_TOP_K}.csv",
    log:
        "logs/analysis/compare_rsm_top_k_{experiment}_{first}_vs_{second}_{layer}.log",
    benchmark:
        "benchmarks/analysis/compare_rsm_top_k_{experiment}_{first}_vs_{second}_{layer}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        data=folder("store"),
        rsm=config["analysis"]["rsm"],
        seed=config["seed"],
        pair=get_pair_options,
    shell:
        "visionflow --threads {threads} analysis rsm-top-k --experiment {wildcards.experiment}"
        " --ckpts {input.ckpts:q} {params.pair} --names {wildcards.first} {wildcards.second}"
        " --shapley {input.shapley:q} --layer {wildcards.layer} --top-k {params.rsm[top_k]}"
        " --data {params.data:q} --split {params.rsm[split]} --per-class {params.rsm[per_class]}"
        " --seed {params.seed} --batch-size {params.rsm[batch_size]} --out {output.figure:q}"
        " 2>&1 | tee {log:q}"


rule compare_rsm_reference:
    input:
        unpack(get_analysis_inputs),
        alexnet=config["analysis"]["rsm"]["reference"]["alexnet"] or [],
    output:
        figure=report(
            f"{RSM_REFERENCE}.png",
            caption="../report/rsm_reference.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
        table=f"{RSM_REFERENCE}.csv",
    log:
        "logs/analysis/compare_rsm_reference_{experiment}_{model}.log",
    benchmark:
        "benchmarks/analysis/compare_rsm_reference_{experiment}_{model}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        data=folder("store"),
        rsm=config["analysis"]["rsm"],
        seed=config["seed"],
        sample=get_sample_options,
    shell:
        "visionflow --threads {threads} analysis rsm-reference --experiment {wildcards.experiment}"
        " --ckpt {input.ckpt:q} {params.sample} --data {params.data:q}"
        " --split {params.rsm[split]} --per-class {params.rsm[per_class]} --seed {params.seed}"
        " --batch-size {params.rsm[batch_size]} --alexnet {input.alexnet:q}"
        " --repeats {params.rsm[reference][repeats]} --name {wildcards.model}"
        " --out {output.figure:q} 2>&1 | tee {log:q}"


# Neuron Shapley, results/<experiment>/analysis/shapley/<run>/<layer>/: every round runs
# `shards` independent jobs (own seeds, resumable state) on the filters the previous round
# left undecided; each round's summary pools every shard so far.


rule sample_shapley:
    input:
        unpack(get_shapley_shard_inputs),
    output:
        f"{SHAPLEY_DIR}/round{{round}}/shard{{shard}}.npz",
    log:
        "logs/analysis/shapley_{experiment}_{model}_{layer}_{round}_{shard}.log",
    benchmark:
        "benchmarks/analysis/shapley_{experiment}_{model}_{layer}_{round}_{shard}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=3000,
        runtime=config["analysis"]["shapley"]["runtime"],
    params:
        data=folder("store"),
        chosen=optional("--chosen-from", "previous"),
        split=lambda wildcards: config["analysis"]["shapley"]["split"][
            wildcards.experiment
        ],
        shapley=config["analysis"]["shapley"],
        seed=config["seed"],
        sample=get_sample_options,
    shell:
        "visionflow --threads {threads} analysis shapley-shard"
        " --experiment {wildcards.experiment} --ckpt {input.ckpt:q} {params.sample}"
        " --data {params.data:q}"
        " --split {params.split} --per-class {params.shapley[per_class]} --seed {params.seed}"
        " --batch-size {params.shapley[batch_size]} --layer {wildcards.layer}"
        " --round {wildcards.round} --shard {wildcards.shard}"
        " --iterations {params.shapley[iterations]} {params.chosen}"
        " --truncation-value {params.shapley[truncation][value]}"
        " --truncation-patience {params.shapley[truncation][patience]}"
        " --out {output:q} 2>&1 | tee {log:q}"


rule pool_shapley:
    input:
        get_shapley_shards,
    output:
        f"{SHAPLEY_DIR}/round{{round}}/summary.csv",
    log:
        "logs/analysis/shapley_{experiment}_{model}_{layer}_{round}.log",
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        shapley=config["analysis"]["shapley"],
    shell:
        "visionflow analysis shapley-round {input:q} --r {params.shapley[R]}"
        " --delta {params.shapley[delta]} --top-k {params.shapley[top_k]}"
        " --out {output:q} 2>&1 | tee {log:q}"


rule plot_shapley:
    input:
        get_all_shapley_shards,
    output:
        table=f"{SHAPLEY_DIR}/shapley.csv",
        values=report(
            f"{SHAPLEY_DIR}/values.png",
            caption="../report/shapley_values.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
        bounds=report(
            f"{SHAPLEY_DIR}/bounds.png",
            caption="../report/shapley_bounds.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
    log:
        "logs/analysis/plot_shapley_{experiment}_{model}_{layer}.log",
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        shapley=config["analysis"]["shapley"],
    shell:
        "visionflow analysis shapley-plot {input:q} --r {params.shapley[R]}"
        " --delta {params.shapley[delta]} --top-k {params.shapley[top_k]}"
        " --table {output.table:q} --values {output.values:q} --bounds {output.bounds:q}"
        " --title '{wildcards.experiment}/{wildcards.model} {wildcards.layer}' 2>&1 | tee {log:q}"


rule plot_attribution:
    input:
        unpack(get_attribution_inputs),
    output:
        guided=report(
            "results/{experiment}/analysis/attribution/{model}/{layer}/guided_backprop.png",
            caption="../report/guided_backprop.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
        maximisation=report(
            "results/{experiment}/analysis/attribution/{model}/{layer}/activation_maximisation.png",
            caption="../report/activation_maximisation.rst",
            category="Analysis",
            subcategory="{experiment}",
        ),
    log:
        "logs/analysis/plot_attribution_{experiment}_{model}_{layer}.log",
    benchmark:
        "benchmarks/analysis/plot_attribution_{experiment}_{model}_{layer}.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        data=folder("store"),
        split=lambda wildcards: config["analysis"]["attribution"]["split"][
            wildcards.experiment
        ],
        am_layer=lambda wildcards: config["analysis"]["attribution"]["am_layer"][
            wildcards.experiment
        ],
        a=config["analysis"]["attribution"],
        seed=config["seed"],
        sample=get_sample_options,
        explained=get_attribution_options,
    shell:
        "visionflow --threads {threads} analysis attribution"
        " --experiment {wildcards.experiment} --ckpt {input.ckpt:q} {params.sample}"
        " --data {params.data:q}"
        " --split {params.split} --per-class {params.a[per_class]} --seed {params.seed}"
        " --layer {wildcards.layer} --filters {params.a[filters]} {params.explained}"
        " --am-layer {params.am_layer} --am-filters {params.a[am][filters]}"
        " --am-size {params.a[am][size]} --am-steps {params.a[am][steps]}"
        " --am-lr {params.a[am][lr]} --am-momentum {params.a[am][momentum]}"
        " --am-tv {params.a[am][tv]} --am-l2 {params.a[am][l2]}"
        " --am-objective {params.a[am][objective]} --am-init-std {params.a[am][init_std]}"
        " --guided-backprop {output.guided:q} --maximisation {output.maximisation:q}"
        " 2>&1 | tee {log:q}"


# CLIP zero-shot labels of Jacquard RGB, results/grasp/analysis/clip/. Needs local weights
# (analysis.clip.weights); an edited relabel.csv goes back in through jacquard.relabel.


rule label_clip:
    input:
        JACQUARD_STORE,
        weights=config_weights("analysis.clip.weights"),
        arch_config=config_weights("analysis.clip.arch_config"),
    output:
        predictions=f"{CLIP_DIR}/predictions.csv",
        metrics=f"{CLIP_DIR}/metrics.json",
        relabel=f"{CLIP_DIR}/relabel.csv",
        confusion=report(
            f"{CLIP_DIR}/confusion.png",
            caption="../report/clip_confusion.rst",
            category="Analysis",
            subcategory="grasp",
        ),
        sheets=directory(f"{CLIP_DIR}/contact_sheets"),
    log:
        "logs/analysis/clip.log",
    benchmark:
        "benchmarks/analysis/clip.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
        runtime=120,
    params:
        data=folder(),
        out=folder("metrics", of="output"),
        clip=config["analysis"]["clip"],
        options=get_clip_options,
    shell:
        "visionflow --threads {threads} analysis clip --data {params.data:q}"
        " --splits {params.clip[splits]} --arch {params.clip[arch]} {params.options}"
        " --template {params.clip[template]:q} --batch-size {params.clip[batch_size]}"
        " --sheet-size {params.clip[sheet_size]} --out-dir {params.out:q} 2>&1 | tee {log:q}"


rule analysis_all:
    input:
        analysis_outputs(),
