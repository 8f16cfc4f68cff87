#!/usr/bin/env bash
# A single-node SLURM cluster on localhost for the HPC tests, kept entirely in one state folder.
#   PRECEX_SLURM_STATE=DIR PRECEX_SLURM_PORT=P tests/hpc/slurm_cluster.sh prepare|start|stop|status|env
#   prepare install Debian slurm-wlm + munge if missing (as root; .ci/run does it before the
#           tests, which never install system packages themselves)
#   start   write DIR/slurm.conf and start a munged, slurmctld and slurmd of its own, all state,
#           sockets, spool, logs and PID files in DIR; ports P (slurmctld) and P+1 (slurmd)
#   stop    stop exactly the daemons started for DIR (by the PIDs recorded there)
#   status  exit 0 when DIR's node is up and idle/mixed/allocated
#   env     print the SLURM_CONF line that points client commands (sbatch, squeue) at DIR
# Nothing is written to /etc, /run or /var (the daemons see this folder as /etc/slurm in a
# mount namespace of their own): several clusters (one per test) can run side by side, and
# another run stopping its own cluster cannot stop this one. Needs root (slurmd, unshare).
# No accounting (slurmdbd): the executor plugin polls with squeue, and the tests check every
# job's final state with scontrol after the run, so MinJobAge keeps finished jobs visible for
# an hour (at the default 300 s, the first jobs of a demo run longer than 5 minutes were gone).
set -euo pipefail
STATE=${PRECEX_SLURM_STATE:-/run/precex-slurm}
PORT=${PRECEX_SLURM_PORT:-6817}
CPUS=${PRECEX_SLURM_CPUS:-4}
MEM_MB=${PRECEX_SLURM_MEM_MB:-8000}
CONF="$STATE/slurm.conf"
export SLURM_CONF="$CONF"

log() { echo "[slurm_cluster $STATE] $*" >&2; }

install_if_missing() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    log "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null
}

write_config() {
    mkdir -p "$STATE/ctld" "$STATE/slurmd" "$STATE/log" "$STATE/munge"
    chmod 755 "$STATE" "$STATE/munge"
    cat > "$CONF" <<CONF
# Written by tests/hpc/slurm_cluster.sh: a one-node test cluster on localhost.
ClusterName=precex-test
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
CredType=cred/munge
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
DefMemPerCPU=1000
NodeName=localhost CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
# a site's own partition, named by the tests' site profile (not the default one)
PartitionName=short Nodes=localhost Default=NO MaxTime=INFINITE State=UP
CONF
}

is_up() {
    [ -f "$CONF" ] && timeout 5 sinfo -h -N -o "%t" 2>/dev/null | grep -Eq '^(idle|mix|alloc)'
}

running() {  # the daemon recorded in $1 is alive
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_daemons() {  # run inside the cluster's own mount namespace (see start)
    if ! running "$STATE/munge/munged.pid"; then
        key="$STATE/munge/munge.key"
        [ -f "$key" ] || { dd if=/dev/urandom of="$key" bs=1 count=1024 2>/dev/null; \
            chmod 400 "$key"; }
        rm -f "$STATE/munge/munge.socket" "$STATE/munge/munge.socket.lock"
        # root, not the munge user: the state folder may sit below a private temp folder
        /usr/sbin/munged --force --socket="$STATE/munge/munge.socket" --key-file="$key" \
            --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
            --seed-file="$STATE/munge/munged.seed"
    fi
    running "$STATE/slurmctld.pid" || /usr/sbin/slurmctld -f "$CONF"
    running "$STATE/slurmd.pid" || /usr/sbin/slurmd -f "$CONF" -N localhost
}

start() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        log "SLURM is not installed: run 'bash tests/hpc/slurm_cluster.sh prepare' as root first"
        exit 3
    fi
    if is_up; then log "already running"; return; fi
    write_config
    # Inside a job, the executor plugin drops every SLURM_* variable (SLURM_CONF too), so the
    # job's srun reads the default /etc/slurm/slurm.conf. The daemons, and so every job they
    # start, run in a mount namespace of their own where /etc/slurm is this cluster's folder;
    # the machine's /etc/slurm is never written.
    etc="$STATE/etc-slurm"
    mkdir -p "$etc"
    [ -d /etc/slurm ] && cp -a /etc/slurm/. "$etc/" 2>/dev/null || true
    ln -sf "$CONF" "$etc/slurm.conf"
    [ -d /etc/slurm ] || mkdir -p /etc/slurm  # as installing slurm-wlm does
    export -f start_daemons running
    export STATE CONF
    if ! unshare --mount --propagation private bash -c \
            "mount --bind '$etc' /etc/slurm && start_daemons"; then
        log "no private mount namespace here; jobs will read /etc/slurm/slurm.conf"
        start_daemons
    fi
    for _ in $(seq 1 60); do
        if is_up; then log "node up: $(sinfo -h -N -o '%N %t %c')"; return; fi
        scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    log "the node did not come up; logs:"; tail -n 20 "$STATE"/log/*.log >&2
    exit 1
}

stop() {
    for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/munge/munged.pid"; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
            log "stopped $(basename "$pidfile" .pid) ($pid)"
        fi
        rm -f "$pidfile"
    done
    # Job steps (slurmstepd) and the jobs they ran outlive a stopped slurmd when the controller
    # died first; they work in this cluster's folder or carry its config in their environment.
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        [ "$pid" = "$$" ] && continue
        cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
        if [[ "$cwd" == "$STATE" || "$cwd" == "$STATE"/* ]] || \
                tr '\0' '\n' < "$proc/environ" 2>/dev/null | grep -qx "SLURM_CONF=$CONF"; then
            kill -9 "$pid" 2>/dev/null && log "stopped leftover process $pid (${cwd})"
        fi
    done
    return 0
}

case "${1:-}" in
    prepare) install_if_missing ;;
    start) start ;;
    stop) stop ;;
    status) is_up ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: PRECEX_SLURM_STATE=DIR PRECEX_SLURM_PORT=P $0 prepare|start|stop|status|env" >&2
       exit 2 ;;
esac
