#!/usr/bin/env bash
# A real single-node SLURM on this machine, for `make slurm-smoke` (docs/paper-scale.md):
#   bash tests/slurm/cluster.sh start STATE_DIR   # prints the SLURM_CONF to export
#   bash tests/slurm/cluster.sh stop STATE_DIR
# Debian's slurm-wlm 22.05 (slurmctld, slurmd, slurmdbd) with munge and a private MariaDB for the
# accounting that `sacct` (the executor plugin's status query) reads. Everything lives in STATE_DIR
# except munge's key and socket (the system's). The node offers its real CPUs and memory
# (`slurmd -C`) and two count-only "GPUs" (gres without device files): the cluster schedules
# `--gpus=2` requests as a GPU cluster would, the jobs themselves run on CPU. Needs root.
set -euo pipefail
action=${1:?usage: cluster.sh start|stop STATE_DIR}
state=$(realpath -m "${2:?usage: cluster.sh start|stop STATE_DIR}")
etc=$state/etc
export SLURM_CONF=$etc/slurm.conf
db_port=${DEFT_SLURM_DB_PORT:-3317}
dbd_port=${DEFT_SLURM_DBD_PORT:-6829}
ctld_port=${DEFT_SLURM_CTLD_PORT:-6827}
node_port=${DEFT_SLURM_NODE_PORT:-6828}

need() { command -v "$1" >/dev/null || { echo "cluster.sh: $1 not found; install Debian's slurm-wlm slurmdbd munge mariadb-server (apt-get install -y slurm-wlm slurmdbd munge mariadb-server)" >&2; exit 1; }; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll until COMMAND succeeds
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "cluster.sh: $what did not come up within ${limit}s; logs in $state/log" >&2
  tail -n 20 "$state"/log/* >&2 || true
  exit 1
}
stop_pid() { [[ -f $1 ]] && kill "$(cat "$1")" 2>/dev/null || true; }

if [[ $action == stop ]]; then
  for d in slurmd slurmctld slurmdbd mariadb; do stop_pid "$state/run/$d.pid"; done
  sleep 2
  exit 0
fi
[[ $action == start ]] || { echo "cluster.sh: unknown action '$action'; allowed: start, stop" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "cluster.sh: must run as root (slurmd and slurmctld run as root here)" >&2; exit 1; }
for tool in munged slurmctld slurmd slurmdbd sacctmgr sbatch mariadbd mariadb-install-db; do need "$tool"; done

if [[ -f $SLURM_CONF ]] && scontrol ping >/dev/null 2>&1 && sacctmgr -n list cluster >/dev/null 2>&1; then
  echo "cluster.sh: already running" >&2; echo "$SLURM_CONF"; exit 0
fi
host=$(hostname -s)
mkdir -p "$etc" "$state"/{run,log,spool/ctld,spool/d,db}

# munge: the system's key (Debian creates one at install); one daemon per machine.
if ! munge -n </dev/null >/dev/null 2>&1; then
  [[ -s /etc/munge/munge.key ]] || mungekey --create
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- munged
  wait_for 10 munged munge -n
fi

# MariaDB, private to STATE_DIR, on loopback only.
if [[ ! -d $state/db/mysql ]]; then
  mariadb-install-db --no-defaults --datadir="$state/db" --user=root --auth-root-authentication-method=normal \
    >"$state/log/mariadb-install.log" 2>&1
fi
mariadbd --no-defaults --user=root --datadir="$state/db" --socket="$state/run/mysql.sock" \
  --bind-address=127.0.0.1 --port="$db_port" --pid-file="$state/run/mariadb.pid" \
  --log-error="$state/log/mariadb.log" &
wait_for 60 MariaDB mariadb --no-defaults --socket="$state/run/mysql.sock" -uroot -e 'select 1'
mariadb --no-defaults --socket="$state/run/mysql.sock" -uroot -e \
  "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
   GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"

cat >"$etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$state/run/slurmdbd.pid
LogFile=$state/log/slurmdbd.log
EOF
chmod 600 "$etc/slurmdbd.conf"

# The node line is what slurmd measures on this machine, plus the count-only GPUs.
node=$(slurmd -C | head -n 1)
cat >"$etc/slurm.conf" <<EOF
ClusterName=deft
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$node_port
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MinJobAge=600
KillWait=15
InactiveLimit=0
$node Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF
# gres/gpu counts only device files: two empty files stand in for /dev/nvidia0-1.
mkdir -p "$state/dev" && touch "$state/dev/gpu0" "$state/dev/gpu1"
echo "NodeName=$host Name=gpu File=$state/dev/gpu[0-1]" >"$etc/gres.conf"
# The jobstep plugin (snakemake-executor-plugin-slurm-jobstep 0.6.1) drops SLURM_CONF from the srun
# it starts inside each job, so srun must find the configuration where a cluster keeps its own:
# /etc/slurm/slurm.conf (a link here; a real one is never replaced).
if [[ -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]]; then
  echo "cluster.sh: /etc/slurm/slurm.conf exists and is not this script's link; not replacing it" >&2; exit 1
fi
mkdir -p /etc/slurm && ln -sfn "$etc/slurm.conf" /etc/slurm/slurm.conf

slurmdbd
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster deft >/dev/null 2>&1 || true
slurmctld
wait_for 60 slurmctld scontrol ping
slurmd
sacctmgr -i add account deft Cluster=deft Description=deft-repro Organization=deft >/dev/null 2>&1 || true
sacctmgr -i add user "$(id -un)" Account=deft DefaultAccount=deft >/dev/null 2>&1 || true
# a node drained by an earlier start (say, a different gres.conf) comes back
scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
wait_for 60 "node $host" bash -c "sinfo -h -N -o %T | grep -q -E '^(idle|mixed|allocated)'"
echo "$SLURM_CONF"
