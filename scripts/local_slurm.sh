#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try seglab's SLURM path (hydra/launcher=slurm)
# and to test it: slurmctld + slurmd on this host, munge authentication, no accounting.
#
#   scripts/local_slurm.sh start    # install (root + apt) when missing, configure, start, wait idle
#   scripts/local_slurm.sh status   # sinfo of the cluster (exit 1 when it is not up)
#   scripts/local_slurm.sh stop     # stop the daemons this script started (by pid)
#   scripts/local_slurm.sh env      # the line to source: export SLURM_CONF=…
#
# Everything lives in $SEGLAB_SLURM_DIR (default /tmp/seglab-slurm): slurm.conf, state and
# spool folders, logs, pid files, munge key and socket. $SEGLAB_SLURMCTLD_PORT and
# $SEGLAB_SLURMD_PORT (default 6817, 6818) let a second cluster (the tests') run beside it. CPUs and memory come from this
# machine. Debian's slurm-wlm 22.05 with proctrack/linuxproc and task/none (no cgroups
# needed); a requeued job waits for its BeginTime (about 2 minutes) unless released with
# `scontrol update JobId=<id> StartTime=now`.
set -euo pipefail

DIR=${SEGLAB_SLURM_DIR:-/tmp/seglab-slurm}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
HOST=$(hostname -s)

die() { echo "local_slurm: $*" >&2; exit 2; }

have_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v munged >/dev/null && command -v sbatch >/dev/null
}

install_packages() {
  have_packages && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "slurmctld, slurmd, munged or sbatch not found. Install Debian's slurm-wlm and munge
(as root: apt-get install slurm-wlm munge) or point PATH at a SLURM installation."
  fi
  echo "local_slurm: installing slurm-wlm and munge (apt-get)"
  # package lists may be missing or stale on a fresh machine: update once and retry
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$DIR/apt.log" 2>&1 \
    || { apt-get update -q >>"$DIR/apt.log" 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >>"$DIR/apt.log" 2>&1; } \
    || die "apt-get install slurm-wlm munge failed; see $DIR/apt.log"
}

# the machine's CPUs: plain nproc obeys OMP_NUM_THREADS (the test suite sets it to 1)
cpu_count() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc; }

write_conf() {
  local cpus mem_mb
  cpus=$(cpu_count)
  mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512))
  mkdir -p "$DIR/state" "$DIR/spool"
  cat >"$CONF" <<EOF
# written by seglab scripts/local_slurm.sh: one node, this host
ClusterName=seglab-local
SlurmctldHost=$HOST
SlurmUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=${SEGLAB_SLURMCTLD_PORT:-6817}
SlurmdPort=${SEGLAB_SLURMD_PORT:-6818}
NodeName=$HOST CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  [ -f "$DIR/munge.pid" ] && kill -0 "$(cat "$DIR/munge.pid")" 2>/dev/null && return 0
  [ -f "$DIR/munge.key" ] || { dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 2>/dev/null; chmod 600 "$DIR/munge.key"; }
  munged --key-file="$DIR/munge.key" --socket="$DIR/munge.socket" \
    --pid-file="$DIR/munge.pid" --log-file="$DIR/munge.log" --seed-file="$DIR/munge.seed" \
    --force || die "munged did not start; see $DIR/munge.log"
}

start_daemon() {  # name binary
  local pidfile=$DIR/$1.pid
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && return 0
  "$2" -f "$CONF" >>"$DIR/$1.out" 2>&1 || die "$1 did not start; see $DIR/$1.log and $DIR/$1.out"
}

wait_idle() {
  for _ in $(seq 1 60); do
    if sinfo -h -N -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated)"; then
      return 0
    fi
    sleep 1
  done
  die "the node did not become idle within 60 s: $(sinfo -h -N -o '%N %T %E' 2>&1); see $DIR/*.log"
}

stop_all() {
  for name in slurmd slurmctld munge; do
    local pidfile=$DIR/$name.pid
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

case "${1:-status}" in
  start)
    mkdir -p "$DIR"
    install_packages
    write_conf
    start_munge
    start_daemon slurmctld slurmctld
    start_daemon slurmd slurmd
    wait_idle
    echo "local_slurm: up ($HOST, $(cpu_count) CPUs); export SLURM_CONF=$CONF"
    ;;
  stop)
    stop_all
    echo "local_slurm: stopped"
    ;;
  status)
    [ -f "$CONF" ] || { echo "local_slurm: not configured ($CONF missing)"; exit 1; }
    sinfo -N || exit 1
    ;;
  env)
    echo "export SLURM_CONF=$CONF"
    ;;
  *)
    die "usage: $0 start|stop|status|env"
    ;;
esac
