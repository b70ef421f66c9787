#!/usr/bin/env bash
# A throw-away single-node SLURM cluster on this machine, for tests/test_slurm.py (run as root).
#   setup_cluster.sh start   install slurm-wlm + munge if missing, configure, start, wait for idle
#   setup_cluster.sh stop    stop what `start` started, remove what it wrote
# The node offers one fake GPU (gres gpu:fake:1 on /dev/null), no accounting (no slurmdbd).
set -euo pipefail

STATE=${VISIONFLOW_SLURM_STATE:-/var/tmp/visionflow-slurm}
CONF=/etc/slurm/slurm.conf  # the jobs' own srun reads only this path, not $SLURM_CONF
GRES=/etc/slurm/gres.conf
MARK="# written by visionflow tests/slurm/setup_cluster.sh"

die() {
  echo "setup_cluster.sh: $*" >&2
  for log in "$STATE"/*.log; do
    [[ -f $log ]] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

install_packages() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq slurm-wlm munge >"$STATE/apt.log" 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq slurm-wlm munge; } >"$STATE/apt.log" 2>&1 ||
    die "apt-get install slurm-wlm munge failed"
}

write_config() {
  for file in $CONF $GRES; do
    [[ ! -e $file ]] || grep -qxF "$MARK" "$file" ||
      die "$file exists and was not written by this script; refusing to replace it"
  done
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/^MemTotal/ {print int($2 / 1024) - 1024}' /proc/meminfo)
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  cat >$CONF <<EOF
$MARK
ClusterName=visionflow
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
EnforcePartLimits=ALL  # reject a job that can never run (more CPUs than the node) at sbatch
# No slurmdbd: Snakemake polls squeue, which must keep finished jobs for a while.
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  printf '%s\nName=gpu Type=fake Count=1 File=/dev/null\n' "$MARK" >$GRES
}

start_munge() {
  munge -n >/dev/null 2>&1 && return  # a munged is already serving this machine: use it
  [[ -s /etc/munge/munge.key ]] || {
    mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null ||
      dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  }
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- munged || die "munged did not start"
  touch "$STATE/munged.ours"
}

start() {
  [[ $(id -u) == 0 ]] || die "needs root (installs packages, writes /etc/slurm, runs daemons)"
  stop  # leftovers of an interrupted run
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    die "slurmctld or slurmd is already running; stop it first"
  fi
  mkdir -p "$STATE"
  install_packages
  write_config
  start_munge
  slurmctld || die "slurmctld did not start"
  slurmd || die "slurmd did not start"
  for _ in $(seq 60); do
    [[ $(sinfo -h -N -o %t 2>/dev/null) == idle ]] && { sinfo -N -o "%N %t %c %m %G"; return; }
    sleep 0.5
  done
  die "the node did not become idle in 30 s: $(sinfo -N 2>&1)"
}

stop() {
  [[ -d $STATE ]] || return 0
  scancel --quiet --user=root 2>/dev/null || true
  for _ in $(seq 50); do
    [[ -z $(squeue -h -t running,completing 2>/dev/null) ]] && break
    sleep 0.2
  done
  [[ -e $STATE/munged.ours ]] && cp /run/munge/munged.pid "$STATE/munged.pid"
  local pids=() pid
  for daemon in slurmd slurmctld munged; do
    [[ -s $STATE/$daemon.pid ]] && pids+=("$(<"$STATE/$daemon.pid")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for file in $CONF $GRES; do
    [[ -e $file ]] && grep -qxF "$MARK" "$file" && rm -f "$file"
  done
  rm -rf "$STATE"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
