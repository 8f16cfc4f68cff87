#!/usr/bin/env bash
# A single-node SLURM cluster on localhost for the HPC tests.
#   tests/hpc/slurm_cluster.sh start    install (Debian slurm-wlm + munge) if missing, configure
#                                       and start munged, slurmctld and slurmd; idempotent
#   tests/hpc/slurm_cluster.sh stop     stop exactly the daemons this script started (by PID)
#   tests/hpc/slurm_cluster.sh status   exit 0 when the node is up and idle/mixed
# Needs root. No accounting (slurmdbd): the executor plugin polls with squeue, so MinJobAge is
# 300 s to keep finished jobs visible to squeue.
set -euo pipefail
STATE=/run/precex-slurm
CONF_DIR=/etc/slurm
CPUS=${PRECEX_SLURM_CPUS:-4}
MEM_MB=${PRECEX_SLURM_MEM_MB:-8000}

log() { echo "[slurm_cluster] $*" >&2; }

install_if_missing() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    log "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null
}

write_config() {
    mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat > "$CONF_DIR/slurm.conf" <<CONF
# Written by tests/hpc/slurm_cluster.sh: a one-node test cluster on localhost.
ClusterName=precex-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
DefMemPerCPU=1000
NodeName=localhost CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

is_up() {
    timeout 5 sinfo -h -N -o "%t" 2>/dev/null | grep -Eq '^(idle|mix|alloc)'
}

start() {
    install_if_missing
    mkdir -p "$STATE"
    if is_up; then log "already running"; return; fi
    write_config
    if ! pgrep -x munged >/dev/null; then  # a socket file may outlive a killed munged
        mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
        rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
        [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 \
            count=1024 2>/dev/null; chown munge:munge /etc/munge/munge.key; \
            chmod 400 /etc/munge/munge.key; }
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        cp /run/munge/munged.pid "$STATE/munged.pid"
    fi
    pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
    pgrep -x slurmd >/dev/null || /usr/sbin/slurmd -N localhost
    for _ in $(seq 1 60); do
        if is_up; then log "node up: $(sinfo -h -N -o '%N %t %c')"; return; fi
        scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    log "the node did not come up; logs:"; tail -n 20 /var/log/slurm/*.log >&2
    exit 1
}

stop() {
    for daemon in slurmd slurmctld munged; do
        pidfile="$STATE/$daemon.pid"
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
            log "stopped $daemon ($pid)"
        fi
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) is_up ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
