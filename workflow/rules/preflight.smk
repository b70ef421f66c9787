# `snakemake run_preflight`: the config's data (layout and first samples), weights, model
# steps, disk, and the jobs and GPU hours of `all`, checked in a minute before a long run
# (`visionflow preflight`); it has no output, so it always runs.


rule run_preflight:
    log:
        "logs/preflight.log",
    benchmark:
        "benchmarks/preflight.tsv"
    conda:
        "../../envs/visionflow.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        config=json.dumps(config),
    shell:
        "visionflow preflight --resolved {params.config:q} 2>&1 | tee {log:q}"
