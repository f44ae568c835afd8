#!/usr/bin/env bash
# The real card stack for tests: pcscd with eight vsmartcard vpcd readers and a
# SoftHSM2 token in a private directory. See docs/virtual-card.md and
# internal/stacktest for how tests use it.
#
#   scripts/cardstack.sh up DIR      start (or reuse) the stack, write DIR/env
#   scripts/cardstack.sh status DIR  say what runs; exit 0 when the stack is up
#   scripts/cardstack.sh down DIR    stop the pcscd this script started, remove DIR
#
# Leases: `up` records its caller (the parent process, e.g. scripts/test.sh)
# in /run/cisauth-cardstack; `down` drops the caller's lease and leaves the
# stack running while another caller's lease is alive, so two `make test`
# runs sharing the machine's one pcscd do not pull it from under each other.
#
# There is one pcscd per machine (its socket path is compiled in). `up` is
# idempotent: a pcscd it started earlier (DIR/pcscd.pid) that is alive with
# every reader listening is reused. A pcscd started by someone else is reused
# only when every vpcd port listens (then `down` leaves it running); otherwise
# `up` fails and says why. Readiness is checked without connecting to the vpcd
# ports: vpcd would take any connection for a card being inserted.
set -euo pipefail

PACKAGES=(pcscd libpcsclite-dev vsmartcard-vpcd softhsm2 opensc opensc-pkcs11 pcsc-tools openssl)
PCSCD_SOCK=/run/pcscd/pcscd.comm
PCSCD_PIDFILE=/run/pcscd/pcscd.pid
VPCD_DRIVER=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
SOFTHSM_LABEL=cisauth-ci
SOFTHSM_PIN=123456
SOFTHSM_SO_PIN=87654321
# Each vpcd entry gives two readers on CHANNELID and CHANNELID+1:
# entry (FRIENDLYNAME, CHANNELID) -> readers "NAME 00 00", "NAME 00 01".
# The fourth name is longer than the 64 bytes OpenSC keeps of a reader name
# as the PKCS#11 slot description, like many real readers' names ("... [CCID
# Interface] (serial) 00 00"): its two readers share that prefix.
LONG_NAME="Virtual PCD D Dual Interface Reader [Contact Reader] with a name past the 64 bytes of a slot (4701F)"
VPCD_NAMES=("Virtual PCD" "Virtual PCD B" "Virtual PCD C" "$LONG_NAME")
VPCD_CHANNELS=(0x8C7B 0x8C8B 0x8C9B 0x8CAB)
# File-name suffix of each entry's reader config and driver copy.
VPCD_SUFFIXES=("" -b -c -d)
# Reader order (= index used by internal/stacktest): 35963, 35964, 35979,
# 35980, 35995, 35996, 36011, 36012.
READERS=("Virtual PCD 00 00" "Virtual PCD 00 01" "Virtual PCD B 00 00" "Virtual PCD B 00 01"
  "Virtual PCD C 00 00" "Virtual PCD C 00 01" "$LONG_NAME 00 00" "$LONG_NAME 00 01")
PORTS=(35963 35964 35979 35980 35995 35996 36011 36012)
READY_TIMEOUT_TENTHS=100 # 10 s
LEASE_DIR=/run/cisauth-cardstack

die() { echo "cardstack: $*" >&2; exit 1; }
log() { echo "cardstack: $*" >&2; }

usage() { die "usage: $0 up|status|down DIR"; }

check_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -ne 0 ]; then
    die "missing Debian packages: ${missing[*]} (run: make deps, or apt-get install --no-install-recommends ${missing[*]})"
  fi
  [ -e "$VPCD_DRIVER" ] || die "vpcd driver $VPCD_DRIVER not found (package vsmartcard-vpcd)"
  [ -e "$SOFTHSM_MODULE" ] || die "SoftHSM2 module $SOFTHSM_MODULE not found (package softhsm2)"
}

opensc_module() {
  local m
  m=$(dpkg -L opensc-pkcs11 2>/dev/null | grep '/opensc-pkcs11\.so$' | head -n1 || true)
  [ -n "$m" ] && [ -e "$m" ] || die "opensc-pkcs11.so not found (package opensc-pkcs11)"
  echo "$m"
}

# pid_is_pcscd PID: true when PID is a live pcscd (guards against pid reuse).
pid_is_pcscd() {
  local pid=$1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pcscd ]
}

# port_listening PORT: a LISTEN (0A) line for 0.0.0.0:PORT or [::]:PORT.
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -qE "^ *[0-9]+: 0+:${hex} 0+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

stack_ready() {
  [ -S "$PCSCD_SOCK" ] || return 1
  local p
  for p in "${PORTS[@]}"; do port_listening "$p" || return 1; done
}

# machine_pcscd: the pid of the machine's running pcscd, if any.
machine_pcscd() {
  local pid
  pid=$(tr -cd "0-9" 2>/dev/null <"$PCSCD_PIDFILE" || true)
  pid_is_pcscd "$pid" && echo "$pid"
  return 0
}

write_readerconf() {
  local dir=$1/readerconf i lib suffix
  mkdir -p "$dir" "$1/drivers"
  rm -f "$dir"/vpcd*
  for ((i = 0; i < ${#VPCD_NAMES[@]}; i++)); do
    lib=$VPCD_DRIVER
    suffix=""
    if [ "$i" -gt 0 ]; then
      # vpcd keeps its sockets in a static array indexed by slot (Lun &
      # 0xffff), so two entries loading the same library overwrite each
      # other's slots: "Virtual PCD 00 00" would then poll the socket of
      # "Virtual PCD B 00 00". A copy of the library (a different file, so
      # dlopen loads it again) gives each further entry its own state.
      suffix=${VPCD_SUFFIXES[$i]}
      lib=$1/drivers/libifdvpcd$suffix.so
      cp "$(readlink -f "$VPCD_DRIVER")" "$lib"
    fi
    cat >"$dir/vpcd$suffix" <<EOF
FRIENDLYNAME "${VPCD_NAMES[$i]}"
DEVICENAME   /dev/null:${VPCD_CHANNELS[$i]}
LIBPATH      $lib
CHANNELID    ${VPCD_CHANNELS[$i]}
EOF
  done
}

start_pcscd() {
  local dir=$1 pid i
  write_readerconf "$dir"
  # No pcscd alive: clear stale files (the pid in them may have been reused).
  rm -f "$PCSCD_SOCK" "$PCSCD_PIDFILE"
  # pcscd outlives this script: it must not keep descriptors it inherits,
  # such as the one `flock /tmp/cisauth-stack.lock ...` holds the test lock
  # on (pcscd would then hold the lock until it stops).
  (
    for fd in /proc/self/fd/*; do
      n=${fd##*/}
      [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null
    done
    exec setsid pcscd --foreground --info -c "$dir/readerconf" >"$dir/pcscd.log" 2>&1 </dev/null
  ) &
  pid=$!
  echo "$pid" >"$dir/pcscd.pid"
  for ((i = 0; i < READY_TIMEOUT_TENTHS; i++)); do
    stack_ready && return 0
    # Only liveness here: until setsid has exec'd, /proc/PID/comm is not yet pcscd.
    kill -0 "$pid" 2>/dev/null || { cat "$dir/pcscd.log" >&2; die "pcscd exited during start-up (log above)"; }
    sleep 0.1
  done
  cat "$dir/pcscd.log" >&2
  die "pcscd not ready after $((READY_TIMEOUT_TENTHS / 10)) s: socket $PCSCD_SOCK or a vpcd port (${PORTS[*]}) missing"
}

ensure_pcscd() {
  local dir=$1 own other
  own=$(tr -cd "0-9" 2>/dev/null <"$dir/pcscd.pid" || true)
  if pid_is_pcscd "$own"; then
    stack_ready && return 0
    die "pcscd $own (ours) is alive but not every vpcd port listens; run: $0 down $dir"
  fi
  rm -f "$dir/pcscd.pid"
  other=$(machine_pcscd)
  if [ -n "$other" ]; then
    if stack_ready; then
      log "reusing pcscd $other started elsewhere (down will leave it running)"
      return 0
    fi
    die "another pcscd (pid $other) runs without the vpcd readers on ports ${PORTS[*]}; stop it first"
  fi
  start_pcscd "$dir"
}

# make_cert DIR NAME SUBJ SERIAL: RSA-2048 key (PKCS#8 PEM) and a certificate
# signed by DIR/ca, keyUsage digitalSignature, no critical extension.
make_cert() {
  local d=$1 name=$2 subj=$3 serial=$4
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$name.key" 2>/dev/null
  openssl req -new -key "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
  printf 'keyUsage = digitalSignature\n' >"$d/$name.ext"
  openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial "$serial" \
    -days 365 -sha256 -extfile "$d/$name.ext" -out "$d/$name.pem" 2>/dev/null
  openssl x509 -in "$d/$name.pem" -outform DER -out "$d/$name.der"
  rm -f "$d/$name.csr" "$d/$name.ext"
}

# import_pair DIR NAME ID LABEL: key and certificate onto the token.
import_pair() {
  local d=$1 name=$2 id=$3 label=$4
  softhsm2-util --import "$d/$name.key" --token "$SOFTHSM_LABEL" --label "$label" --id "$id" \
    --pin "$SOFTHSM_PIN" >/dev/null
  pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$SOFTHSM_LABEL" --login --pin "$SOFTHSM_PIN" \
    --write-object "$d/$name.der" --type cert --id "$id" --label "$label" >/dev/null
}

ensure_softhsm() {
  local d=$1/softhsm
  if [ -f "$d/.done" ]; then return 0; fi
  rm -rf "$d"
  mkdir -p "$d/tokens"
  cat >"$d/softhsm2.conf" <<EOF
directories.tokendir = $d/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
EOF
  export SOFTHSM2_CONF=$d/softhsm2.conf
  softhsm2-util --init-token --free --label "$SOFTHSM_LABEL" --so-pin "$SOFTHSM_SO_PIN" \
    --pin "$SOFTHSM_PIN" >/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 365 \
    -subj "/O=nhs/OU=CA/CN=SubCA cisauth CI" 2>/dev/null
  # 01: the NHS-profile authentication pair; 02: an unrelated pair to exercise key selection.
  make_cert "$d" auth "/O=nhs/OU=people/CN=555000000099" 1
  make_cert "$d" other "/O=cisauth CI/CN=Unrelated Signing Key" 2
  import_pair "$d" auth 01 "CIS auth 555000000099"
  import_pair "$d" other 02 "unrelated"
  rm -f "$d/auth.key" "$d/other.key" "$d/ca.key"
  touch "$d/.done"
}

# write_opensc_conf DIR: an OpenSC configuration with room for every reader.
# OpenSC's PKCS#11 module gives each reader slots_per_card (4) slots out of
# max_virtual_slots (16), so by default it shows only the first four
# readers pcscd lists, and pcscd lists reader-config entries in directory
# order, not by name. The env file points OPENSC_CONF here.
write_opensc_conf() {
  local slots=$(( ${#READERS[@]} * 4 + 8 ))
  cat >"$1/opensc.conf" <<EOF
# Written by scripts/cardstack.sh: Debian's defaults, plus PKCS#11 slots
# for all ${#READERS[@]} vpcd readers (the default of 16 covers four).
app default {
	framework pkcs15 {
	}
}
app opensc-pkcs11 {
	pkcs11 {
		max_virtual_slots = $slots;
	}
}
EOF
}

write_env() {
  local dir=$1 readers addrs p i
  readers=$(IFS=,; echo "${READERS[*]}")
  addrs=""
  for ((i = 0; i < ${#PORTS[@]}; i++)); do
    p=${PORTS[$i]}
    addrs+="${addrs:+,}127.0.0.1:$p"
  done
  cat >"$dir/env.tmp" <<EOF
export CISAUTH_STACK=1
export CISAUTH_STACK_DIR='$dir'
export CISAUTH_OPENSC_MODULE='$(opensc_module)'
export OPENSC_CONF='$dir/opensc.conf'
export CISAUTH_SOFTHSM_MODULE='$SOFTHSM_MODULE'
export SOFTHSM2_CONF='$dir/softhsm/softhsm2.conf'
export CISAUTH_SOFTHSM_LABEL='$SOFTHSM_LABEL'
export CISAUTH_SOFTHSM_PIN='$SOFTHSM_PIN'
export CISAUTH_SOFTHSM_CA='$dir/softhsm/ca.pem'
export CISAUTH_SOFTHSM_CERT='$dir/softhsm/auth.pem'
export CISAUTH_READERS='$readers'
export CISAUTH_VPCD_ADDRS='$addrs'
EOF
  mv "$dir/env.tmp" "$dir/env"
}

# live_leases: pids of other callers whose lease is alive; drops dead ones.
live_leases() {
  local f pid
  for f in "$LEASE_DIR"/*; do
    [ -e "$f" ] || continue
    pid=${f##*/}
    [ "$pid" = "$PPID" ] && continue
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      echo "$pid"
    else
      rm -f "$f"
    fi
  done
}

cmd_up() {
  local dir=$1
  check_packages
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  ensure_pcscd "$dir"
  ensure_softhsm "$dir"
  write_opensc_conf "$dir"
  write_env "$dir"
  mkdir -p "$LEASE_DIR"
  touch "$LEASE_DIR/$PPID"
  log "up: ${#PORTS[@]} vpcd readers on ports ${PORTS[*]}; SoftHSM2 token $SOFTHSM_LABEL; source $dir/env"
}

cmd_status() {
  local dir=$1 own other rc=0 p
  own=$(tr -cd "0-9" 2>/dev/null <"$dir/pcscd.pid" || true)
  other=$(machine_pcscd)
  if pid_is_pcscd "$own"; then
    echo "pcscd: running, pid $own (started by this script)"
  elif [ -n "$other" ]; then
    echo "pcscd: running, pid $other (not started by this script for $dir)"
  else
    echo "pcscd: not running"; rc=1
  fi
  if [ -S "$PCSCD_SOCK" ]; then echo "socket: $PCSCD_SOCK"; else echo "socket: missing"; rc=1; fi
  for p in "${PORTS[@]}"; do
    if port_listening "$p"; then echo "vpcd port $p: listening"; else echo "vpcd port $p: not listening"; rc=1; fi
  done
  if [ -f "$dir/softhsm/.done" ]; then echo "softhsm token: $SOFTHSM_LABEL in $dir/softhsm"; else echo "softhsm token: missing"; rc=1; fi
  if [ -f "$dir/env" ]; then echo "env: $dir/env"; else echo "env: missing"; rc=1; fi
  echo "leases: $(live_leases | tr '\n' ' ')"
  return $rc
}

cmd_down() {
  local dir=$1 pid i others
  rm -f "$LEASE_DIR/$PPID"
  others=$(live_leases | tr '\n' ' ')
  if [ -n "$others" ]; then
    log "still in use by pid(s) ${others% }: leaving pcscd and $dir running"
    return 0
  fi
  pid=$(tr -cd "0-9" 2>/dev/null <"$dir/pcscd.pid" || true)
  if pid_is_pcscd "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_is_pcscd "$pid" || break; sleep 0.1; done
    if pid_is_pcscd "$pid"; then
      log "pcscd $pid ignored TERM for 5 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$PCSCD_SOCK" "$PCSCD_PIDFILE"
    fi
  fi
  rm -rf -- "$dir"
}

[ $# -eq 2 ] || usage
verb=$1
dir=$2
case "$dir" in
"" | / | /root | /home | /tmp | /work | /usr) die "refusing stack dir '$dir'" ;;
esac
case "$verb" in
up) cmd_up "$dir" ;;
status) cmd_status "$dir" ;;
down) cmd_down "$dir" ;;
*) usage ;;
esac
