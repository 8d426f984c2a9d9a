#!/usr/bin/env bash
# A real one-machine SLURM cluster for the tests: munge, MariaDB + slurmdbd (so sacct works, which
# submitit polls), slurmctld, and two simulated nodes n1, n2 (one slurmd each) on 127.0.0.1.
#   bash .ci/slurm.sh up      # install (Debian packages, as root), configure, start; waits until both nodes are idle
#   bash .ci/slurm.sh down    # cancel jobs, wait for them, stop every daemon by PID
# Everything lives under /run/ainkit-slurm and /var/spool/ainkit-slurm. Needs root.
set -euo pipefail
STATE=/run/ainkit-slurm
SPOOL=/var/spool/ainkit-slurm
CONF=/etc/slurm
HOST=$(hostname -s)

log() { echo "[slurm] $*"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 $((n * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "timed out waiting for $what"; return 1
}

up() {
  [ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }
  if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    log "installing Debian packages"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      slurmctld slurmd slurm-client munge slurmdbd mariadb-server >/dev/null
  fi
  mkdir -p "$STATE" "$SPOOL"/{ctld,n1,n2} "$CONF"
  grep -qE '^127\.0\.0\.1.* n1( |$)' /etc/hosts || echo "127.0.0.1 n1 n2" >> /etc/hosts

  # munge
  [ -s /etc/munge/munge.key ] || { (mungekey --create 2>/dev/null || create-munge-key -f) >/dev/null; }
  chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -m 755 /run/munge
  if ! pgrep -x munged >/dev/null; then runuser -u munge -- munged; fi
  wait_for 10 munge munge -n

  # MariaDB for slurmdbd
  install -d -o mysql /run/mysqld
  if ! pgrep -x mariadbd >/dev/null; then
    (mariadbd --user=mysql --skip-networking=0 --bind-address=127.0.0.1 >"$STATE/mariadb.log" 2>&1 &)
  fi
  wait_for 30 mariadb mysqladmin ping
  mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'ainkit-slurm'; \
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

  cat > "$CONF/slurmdbd.conf" <<CONFEOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=ainkit-slurm
LogFile=$STATE/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
CONFEOF
  chmod 600 "$CONF/slurmdbd.conf"

  cat > "$CONF/slurm.conf" <<CONFEOF
ClusterName=ainkit
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd-%n.log
SlurmctldPort=16817
NodeName=n[1-2] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[17001-17002] CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONFEOF

  pgrep -x slurmdbd >/dev/null || slurmdbd
  wait_for 30 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster ainkit >/dev/null 2>&1 || true
  pgrep -x slurmctld >/dev/null || slurmctld
  wait_for 30 slurmctld scontrol ping
  for n in n1 n2; do pgrep -f "slurmd -N $n" >/dev/null || slurmd -N "$n"; done
  wait_for 60 "idle nodes" bash -c '[ "$(sinfo -h -N -t idle -o %N | sort -u | wc -l)" -ge 2 ]'
  sinfo
  log "up: $(sinfo -h -N -o '%N %t' | sort -u | tr '\n' ' ')"
}

down() {
  if command -v scancel >/dev/null && scontrol ping >/dev/null 2>&1; then
    scancel --full --user=root 2>/dev/null || true
    wait_for 30 "jobs to end" bash -c '[ -z "$(squeue -h)" ]' || true
  fi
  for pidfile in "$STATE"/slurmd-n1.pid "$STATE"/slurmd-n2.pid "$STATE"/slurmctld.pid "$STATE"/slurmdbd.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  pkill -x mariadbd 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  log "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down"; exit 2 ;;
esac
