# cloudiq-bootstrap host prelude: the functions every program rendered by lib/host builds on.
# Needs only a POSIX sh, awk and coreutils (or busybox). Values never reach this code as code:
# the renderer passes them as single-quoted words or base64 data. Output is line records
# (`@tag field...`) that lib/host/parse.ts reads; anything binary travels as base64.

umask 027
# The process that does this program's work: the shell itself, or, in a host session's frame (a
# subshell, where $$ is still the session's shell), the frame, which the session names in B_SELF.
# The lock's record names it, so a frame killed while it holds the lock leaves a dead holder.
B_SELF=${B_SELF:-$$}

b_emit() { printf '%s\n' "$*"; }
b_now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
b_b64() { base64 -w 0 2>/dev/null || base64 | tr -d '\n'; }
b_b64_file() { b_b64 < "$1"; }
b_str64() { printf '%s' "$1" | b_b64; }
# b_enc TEXT [PLAIN]: one field of a record in _f: `=TEXT` when TEXT holds only the characters of
# the bracket set PLAIN (no fork), else base64 (which never starts with `=`). lib/host/parse.ts
# reads both. The default set leaves out spaces, which separate fields.
b_enc() {
  case "$1" in
    *[!${2:-A-Za-z0-9:/._@%+,=-}]*) _f=$(b_str64 "$1") ;;
    *) _f="=$1" ;;
  esac
}
b_sleep() { sleep "$1" 2>/dev/null || sleep 1; }
b_have() { command -v "$1" >/dev/null 2>&1; }
# posh (0.14) parses its builtins' options with getopt(3) and never resets it: the next builtin
# that parses options (`wait` among them) first reads on from the end of the last option word
# parsed (`read -r`'s `-r`), memory freed since, and once something else is stored there it finds
# an option nobody gave ("wait: invalid option -- 'T'") and fails without waiting. getopts with
# OPTIND=0 resets getopt(3); elsewhere it is a getopts that finds nothing. Before waiting on a hook.
b_getopt_reset() { OPTIND=0; getopts : _go -- 2>/dev/null; }

# A monotonic clock, which no step of the wall clock moves, for every duration the program measures
# (a hook's run, a wait): whole seconds in _mono and hundredths in _mono_f (two digits), from
# /proc/uptime read with builtins (no process); `date +%s` only where there is none. Durations in
# hundredths come from differences (b_mono_since), never from hundredths since boot, which mksh's
# 32-bit arithmetic could not hold.
b_mono() {
  _mono=''
  { read -r _mono _ < /proc/uptime; } 2>/dev/null
  case "$_mono" in
    [0-9]*.[0-9][0-9]) _mono_f=${_mono#*.} _mono=${_mono%.*} ;;
    *) _mono=$(date +%s) _mono_f=00 ;;
  esac
}
# b_mono_since S F: hundredths of a second from b_mono's reading S F to a new one, in _since.
b_mono_since() { b_mono; _since=$(( (_mono - $1) * 100 + 1$_mono_f - 1$2 )); }

# Fault points let tests kill the program at a named step (kill -9 atomicity tests).
# Inside a pipeline the step runs in a subshell, where $$ is still the main shell: kill both.
b_fault() {
  [ "${BOOTSTRAP_FAULT_AT:-}" = "$1" ] || return 0
  kill -9 "$B_SELF"
  sh -c 'kill -9 $PPID'
}

# A process's state and start time (fields 3 and 22 of /proc/PID/stat; the name in field 2 may
# hold spaces and parentheses, so fields are counted after its last ") "), in _ps_state and
# _ps_start, with builtins only. The start time tells a process from a later one with its PID.
# The `)` of the pattern is escaped: ksh93 reads a bare one as the end of a pattern group.
# Its flags (field 9) tell a process that is exiting (PF_EXITING, 4): it has already closed its
# files, so whoever waited on them may look before it is even a zombie.
b_pid_stat() {
  _ps_state='' _ps_start='' _ps_flags=0
  { read -r _ps_line < "/proc/$1/stat"; } 2>/dev/null || return 1
  set -- ${_ps_line##*\) }
  _ps_state=$1 _ps_start=${20:-} _ps_flags=${7:-0}
}
b_pid_start() { b_pid_stat "$1" && printf '%s' "$_ps_start"; }

# Is PID alive, and (when START is given and /proc exists) the same process that recorded START?
# A journal's runner is told by its PID; a lock's holder must prove itself (b_holder_alive).
b_pid_alive() {
  case "$1" in '' | *[!0-9]*) return 1 ;; esac
  if [ -d /proc/self ]; then
    b_pid_stat "$1" || return 1
    case "$_ps_state" in Z | X | '') return 1 ;; esac
    case "$_ps_flags" in *[!0-9]* | '') ;; *) [ $((_ps_flags & 4)) -eq 0 ] || return 1 ;; esac
    [ -z "${2:-}" ] || [ "$_ps_start" = "$2" ]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# Is a lock record's holder provably the process that wrote it: alive, with the start time it
# recorded? A record without one (the seed tool's bare PID) proves nothing and is stale. Only a
# host without /proc, where no start time can be read, falls back to the PID alone.
b_holder_alive() {
  if [ -d /proc/self ]; then [ -n "${2:-}" ] && b_pid_alive "$1" "$2"; else b_pid_alive "$1"; fi
}

# JSON string (with quotes) of stdin: escapes quotes, backslashes and control bytes, byte-wise.
# With `tail`, leading UTF-8 continuation bytes of a cut are dropped so the string starts cleanly.
b_json_stdin() {
  { tr -d '\000'; printf 'X'; } | LC_ALL=C awk -v cut="${1:-0}" '
    BEGIN { for (i = 1; i < 32; i++) ctl[sprintf("%c", i)] = sprintf("\\u%04x", i); ctl["\t"] = "\\t"; out = "" }
    function esc(s,   r, i, c) {
      if (s !~ /[\\"\001-\037]/) return s
      r = ""
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") r = r "\\\\"; else if (c == "\"") r = r "\\\""; else if (c in ctl) r = r ctl[c]; else r = r c
      }
      return r
    }
    { if (NR == 1 && cut) { while (length($0) > 0 && substr($0, 1, 1) >= "\200" && substr($0, 1, 1) < "\300") $0 = substr($0, 2) }
      lines[NR] = $0 }
    END { n = NR; lines[n] = substr(lines[n], 1, length(lines[n]) - 1)
      for (i = 1; i <= n; i++) out = out (i > 1 ? "\\n" : "") esc(lines[i])
      printf "\"%s\"", out }'
}
b_json_str() { printf '%s' "$1" | b_json_stdin; }

# Atomic replace: temp file in the same directory, fsync, rename, fsync of the directory.
b_write_stdin() {
  b_write_temp "$1"
  cat > "$_w_tmp" || { rm -f "$_w_tmp"; return 1; }
  b_write_commit "$1"
}

# The temp file beside PATH that b_write_commit renames to it (in _w_dir and _w_tmp).
b_write_temp() { _w_dir=${1%/*} _w_tmp="${1%/*}/.${1##*/}.tmp.$$"; }

b_write_commit() {
  b_fault write:temp
  sync "$_w_tmp" 2>/dev/null || sync
  b_fault write:synced
  # mv(1) moves a file into a directory found at its target (or a symlink to one): never a write.
  if [ -d "$1" ]; then rm -f "$_w_tmp"; return 1; fi
  mv -f "$_w_tmp" "$1" || { rm -f "$_w_tmp"; return 1; }
  b_fault write:renamed
  sync "$_w_dir" 2>/dev/null || sync
}

# Write a file from base64 data on stdin, with the host's time in place of each \001NOW\001 marker.
# The data comes in a here-document, never as an argument: where printf is not a builtin (mksh,
# posh) an argument goes through exec, and Linux caps one at 128 KiB.
b_write_b64() {
  _wb_now=${B_NOW:-$(b_now)}
  b_write_temp "$1"
  base64 -d | LC_ALL=C awk -v now="$_wb_now" '{ gsub(/\001NOW\001/, now); print }' > "$_w_tmp" || { rm -f "$_w_tmp"; return 1; }
  b_write_commit "$1"
}

# Creates the state dir's folders; refuses first (CONFIG_ERROR, nothing created) when the lock's
# path is a symlink or no regular file, since the lock would refuse it anyway.
b_mkdirs() {
  b_path_refused "$B_STATE/bootstrap.pid" && return 2
  if [ ! -d "$B_STATE" ]; then mkdir -p "$B_STATE" && chmod 0750 "$B_STATE" || return 1; fi
  [ -d "$B_STATE/products" ] && [ -d "$B_STATE/operations" ] && [ -d "$B_STATE/logs" ] ||
    mkdir -p "$B_STATE/products" "$B_STATE/operations" "$B_STATE/logs"
}

# ---- reading -------------------------------------------------------------------------------------

# A read dumps every file it needs with ONE awk (b_flush), not a process per file. Files are
# queued as pairs of words in B_Q, each quoted by b_quote with builtins only.
B_Q=''
B_NL='
'

# _f: $1 as one single-quoted shell word ('\'' for each '), with builtins only.
b_quote() {
  _q=$1 _f=''
  while :; do
    case "$_q" in
      *\'*) _r=${_q%%\'*}; _f="$_f$_r'\\''"; _q=${_q#*\'} ;;
      *) _f="'$_f$_q'"; return 0 ;;
    esac
  done
}

# b_queue HEADER PATH: the file's record (HEADER, then its content) is printed by the next b_flush.
b_queue() { b_quote "$1"; B_Q="$B_Q $_f"; b_quote "$2"; B_Q="$B_Q $_f"; }

# Prints each queued file as `HEADER text LINES EOL` and its LINES lines as they are (EOL: 1 when
# the file ends with a newline), when it is text: valid UTF-8 with no control byte but tab and
# newline. awk reads it as ONE record (RS is \001, which text never holds), so the record is the
# file's every byte. Anything else (and a file awk could not read) is named on awk's stderr and
# dumped exactly by `base64` as `HEADER b64 DATA`; `!` marks a read that failed. (busybox awk ends
# a record at NUL: a file with NUL shows as several records, which is not text, but one NUL as its
# very last byte cannot be seen there.) A `@lastop` record's text is the file's first line only;
# a `@state` record's, the file from its first line that starts with `[state]` (all of it if none).
b_flush() {
  [ -n "$B_Q" ] || return 0
  eval "set -- $B_Q"
  B_Q=''
  { _redo=$(LC_ALL=C awk -- '
    BEGIN {
      RS = "\001"
      ascii = "^[\t\n -~]*$"
      utf8 = "^([\t\n -~]|[\302-\337][\200-\277]|\340[\240-\277][\200-\277]|[\341-\354\356\357][\200-\277][\200-\277]|\355[\200-\237][\200-\277]|\360[\220-\277][\200-\277][\200-\277]|[\361-\363][\200-\277][\200-\277][\200-\277]|\364[\200-\217][\200-\277][\200-\277])*$"
      for (i = 1; i < ARGC; i += 2) {
        n = 0; t = ""
        while ((k = (getline r < ARGV[i + 1])) > 0) { n++; t = r }
        close(ARGV[i + 1])
        if (k == 0 && n == 1 && substr(ARGV[i], 1, 8) == "@lastop ") { e = index(t, "\n"); if (e) t = substr(t, 1, e) }
        if (k == 0 && n == 1 && substr(ARGV[i], 1, 7) == "@state ") { e = index("\n" t, "\n[state]"); if (e) t = substr(t, e) }
        if (k < 0 || n > 1 || (t !~ ascii && t !~ utf8)) { print i > "/dev/stderr"; continue }
        c = t; lines = gsub(/\n/, "", c); eol = 0
        if (t != "") { if (substr(t, length(t)) == "\n") eol = 1; else lines++ }
        printf "%s text %d %d\n%s%s", ARGV[i], lines, eol, t, (t == "" || eol ? "" : "\n")
      }
      exit 0
    }' "$@" 2>&1 >&4 4>&-) || _redo=all; } 4>&1
  [ "$_redo" = all ] && { _i=1; _redo=''; while [ "$_i" -lt $# ]; do _redo="$_redo $_i"; _i=$((_i + 2)); done; }
  for _i in $_redo; do
    case "$_i" in '' | *[!0-9]*) continue ;; esac
    eval "_h=\${$_i} _p=\${$((_i + 1))}"
    printf '%s b64 ' "$_h"; b_b64_file "$_p" || printf '!'; printf '\n'
  done
}

# @file NAME text LINES EOL + lines | @file NAME b64 DATA | @file NAME absent | @file NAME notfile
# (queued: printed by b_flush). b_dump NAME PATH @state: the file's text from its `[state]` line on.
b_dump() {
  if [ -L "$2" ] || { [ -e "$2" ] && [ ! -f "$2" ]; }; then b_emit "@file $1 notfile"
  elif [ -f "$2" ]; then b_queue "${3:-@file} $1" "$2"
  else b_emit "@file $1 absent"; fi
}

# b_dump_products [state]: every product's file; with `state`, only its [state] section on.
b_dump_products() {
  for _pf in "$B_STATE"/products/*.ini; do
    [ -e "$_pf" ] || continue
    _n=${_pf##*/}; b_dump "product:${_n%.ini}" "$_pf" ${1:+"@$1"}
  done
}

# @lock absent | @lock symlink | @lock record ALIVE B64  (ALIVE: 1 when the recorded holder provably
# holds it: b_holder_alive, and with flock the kernel lock taken by someone)
# With flock an empty file is a free lock (its last holder emptied it), or one just taken whose
# record is being written (b_take_lock): held, it is read again, and reported held even if still
# empty (`@lock record 1` with no record). Builtins only, as an empty file is how a flock host's
# lock rests between operations; where fdinfo has no inode it is taken for free, as before.
b_dump_lock() {
  _l="$B_STATE/bootstrap.pid"
  if [ -L "$_l" ]; then b_emit "@lock symlink"; return; fi
  if [ ! -s "$_l" ]; then
    if [ -f "$_l" ] && b_use_flock && b_lock_ino "$_l" && b_flock_seen "$_fl_ino"; then
      _rec=$(b_read_lock "$_l")
      if [ -z "$_rec" ]; then b_emit "@lock record 1 ="; return; fi
    else
      b_emit "@lock absent"; return
    fi
  else
    _rec=$(b_read_lock "$_l")
  fi
  b_lock_fields "$_rec"
  if b_holder_alive "$_lk_pid" "$_lk_start" && { ! b_use_flock || b_flock_held "$_l"; }; then _alive=1; else _alive=0; fi
  b_enc "$_rec"
  b_emit "@lock record $_alive $_f"
}

# A lock record's first line (the PID) in _lk_pid and its first pid_start= value in _lk_start.
b_lock_fields() {
  _lk_pid=${1%%"$B_NL"*} _lk_start=''
  case "$1" in *"${B_NL}pid_start="*) _lk_start=${1#*"${B_NL}pid_start="} _lk_start=${_lk_start%%"$B_NL"*} ;; esac
}

# A journal's first line in _jc, and the runner it names in _jp and _js: its PID and start time
# (`"pidStart"`, which tells it from a later process given the same PID; older journals have
# none). Read after `"status"`, so that nothing in `args` can be taken for them. b_journal_write
# ends the first line before `"steps"`, so `read` (one byte per read(2) in most shells) reads a
# few hundred bytes, never the hooks' output; a journal of one line (older versions) is read whole.
b_journal_runner() {
  _jc='' _jp='' _js=''
  { read -r _jc < "$1"; } 2>/dev/null
  _jt=${_jc#*\"status\":\"}
  case "$_jt" in *'"pid":'*) _jp=${_jt#*\"pid\":} _jp=${_jp%%,*} ;; esac
  case "$_jt" in *'"pidStart":"'*) _js=${_jt#*\"pidStart\":\"} _js=${_js%%\"*} ;; esac
}

# @journal ID ALIVE text LINES EOL + lines | @journal ID ALIVE b64 DATA | @journal ID absent
# (ALIVE: the journal is running and its runner runs). Queued: printed by the next b_flush.
# b_queue_journal ID @lastop: the same as `@lastop ID ALIVE ...`, whose text is the journal's first
# line only (what heartbeat.get says of the last operation, without the steps' output), and
# nothing at all when there is no journal.
# A symlink or anything but a regular file at a journal's path is no journal: refused (CONFIG_ERROR,
# b_path_refused), or with @lastop passed over.
b_queue_journal() {
  _j="$B_STATE/operations/$1.json"
  if [ -L "$_j" ] || [ ! -f "$_j" ]; then
    [ -n "${2:-}" ] || b_path_refused "$_j" || b_emit "@journal $1 absent"
    return 0
  fi
  # Its content is sent as read after the liveness check, so a runner that ended meanwhile is
  # seen with the final journal it wrote.
  b_journal_runner "$_j"
  _alive=0
  case "$_jc" in *'"status":"running","pid":'*) b_pid_alive "$_jp" "$_js" && _alive=1 ;; esac
  b_queue "${2:-@journal} $1 $_alive" "$_j"
}

b_dump_journal() { b_queue_journal "$1"; b_flush; }

# The last operation started: operations/.last names it (written when its journal is first
# written); `ls -t` is only the fallback, as its order within one second is not reliable.
b_dump_newest_journal() {
  _newest=''
  { read -r _newest < "$B_STATE/operations/.last"; } 2>/dev/null
  case "$_newest" in '' | *[!A-Za-z0-9_-]*)
    _newest=$(ls -t "$B_STATE"/operations/ 2>/dev/null | sed -n '/^[A-Za-z0-9][A-Za-z0-9_-]*\.json$/{s/\.json$//;p;q;}') ;;
  esac
  [ -n "$_newest" ] && b_queue_journal "$_newest" @lastop
}

b_facts() {
  _up=0 _l1=0 _l5=0 _l15=0
  { read -r _up _ < /proc/uptime; } 2>/dev/null
  { read -r _l1 _l5 _l15 _ < /proc/loadavg; } 2>/dev/null
  b_emit "@fact uptime ${_up:-0}"
  b_emit "@fact load ${_l1:-0} ${_l5:-0} ${_l15:-0}"
}

# ---- checks (SPEC 2.1) -----------------------------------------------------------------------------

# The checks of one program run side by side, so that a heartbeat.appstack takes as long as its
# slowest check (10 s at most), not the sum of them all: a host whose every check hangs is still
# seen `down` within a fleet heartbeat's time for one host, not taken for unreachable. b_check
# starts one; b_checks_done waits for them all. An `exec:` check is a job of this shell, which
# prints its record from the job's status: no more processes than when checks ran one by one.
# `process:` checks share one scan of /proc, made by b_checks_done while the others run (one `cat`
# and one `awk` for all of them, where each had its own). Another kind runs in a subshell that
# prints its own record with one write: under 1 KiB of check, the record (check and detail, base64
# at worst) stays under PIPE_BUF (4 KiB), so records never interleave; a longer check runs in this
# shell, before the next one starts.
B_CK_EXEC='' B_CK_PROC='' B_CK_NAMES=''

# b_check PRODUCT CHECK: starts the check (its @check record follows, b_checks_done at the latest).
b_check() {
  _c_kind=${2%%:*} _c_target=${2#*:}
  if [ "$_c_kind" = process ] && [ -d /proc/self ]; then
    b_quote "$1"; B_CK_PROC="$B_CK_PROC $_f"; b_quote "$2"; B_CK_PROC="$B_CK_PROC $_f"
    b_quote "$_c_target"; B_CK_NAMES="$B_CK_NAMES $_f"
  elif [ ${#2} -gt 1024 ]; then
    b_check_now "$1" "$2" </dev/null
  elif [ "$_c_kind" = exec ] && [ -x "$_c_target" ] && [ -f "$_c_target" ]; then
    # The subshell runs its last command in its own process; a written `exec` would make dash
    # and busybox try execve(2) in each PATH directory in turn.
    (cd / && timeout 10 "$_c_target" </dev/null >/dev/null 2>&1) &
    b_quote "$1"; B_CK_EXEC="$B_CK_EXEC $! $_f"; b_quote "$2"; B_CK_EXEC="$B_CK_EXEC $_f"
  else
    b_check_now "$1" "$2" </dev/null &
  fi
}

# Scans /proc for the `process:` checks, then waits for every check b_check started; prints the
# records of both kinds.
b_checks_done() {
  [ -z "$B_CK_PROC" ] || b_checks_process
  eval "set -- $B_CK_EXEC"
  B_CK_EXEC=''
  while [ $# -ge 3 ]; do
    b_getopt_reset
    wait "$1"; _c_rc=$?
    if [ $_c_rc -eq 0 ]; then b_check_record "$2" "$3" 1 ''; else b_check_record "$2" "$3" 0 "exited $_c_rc"; fi
    shift 3
  done
  b_getopt_reset
  wait
}

# @check PRODUCT OK B64(check) B64(detail). The detail is the record's last field, so it may
# hold spaces and parentheses as it is: a failing check's record costs no base64 for its usual
# details ("exited 3", "no process named haproxy"). The set comes from a variable because a
# written `(` in a pattern is a pattern group to ksh93.
B_CK_PLAIN='A-Za-z0-9:/._@%+,= ()-'
b_check_record() {
  b_enc "$2"; _fc=$_f
  b_enc "$4" "$B_CK_PLAIN"
  b_emit "@check $1 $3 $_fc $_f"
}

# Runs one check here and now, and prints its record.
b_check_now() {
  _c_product=$1 _c=$2 _c_detail=''
  _c_kind=${_c%%:*} _c_target=${_c#*:}
  case "$_c" in http://* | https://*) _c_kind=http _c_target=$_c ;; esac
  case "$_c_kind" in
    process) b_check_process "$_c_target" ;;
    systemd)
      if b_have systemctl; then
        _c_state=$(systemctl is-active -- "$_c_target" 2>/dev/null)
        [ "$_c_state" = active ] || { _c_detail="systemctl is-active: ${_c_state:-unknown}"; false; }
      else _c_detail='systemctl not found'; false; fi ;;
    tcp) b_check_tcp "${_c_target%:*}" "${_c_target##*:}" ;;
    http) b_check_http "$_c_target" ;;
    exec)
      if [ -x "$_c_target" ] && [ -f "$_c_target" ]; then
        (cd / && timeout 10 "$_c_target" </dev/null >/dev/null 2>&1); _c_rc=$?
        [ $_c_rc -eq 0 ] || { _c_detail="exited $_c_rc"; false; }
      else _c_detail='not an executable file'; false; fi ;;
    *) _c_detail='unknown check kind'; false ;;
  esac
  if [ $? -eq 0 ]; then _c_ok=1; else _c_ok=0; fi
  b_check_record "$_c_product" "$_c" $_c_ok "$_c_detail"
}

# One scan for every `process:` check b_check queued. The names reach awk as its arguments, which
# awk takes as they are (a -v value would have its backslashes read as escapes); it answers one
# digit per name, 1 when a process has it. The kernel keeps a process's name to its first 15 bytes.
b_checks_process() {
  eval "set -- $B_CK_NAMES"
  _c_found=$(cat /proc/[0-9]*/comm 2>/dev/null | LC_ALL=C awk '
    BEGIN { n = ARGC - 1; for (i = 1; i <= n; i++) { w[i] = substr(ARGV[i], 1, 15); delete ARGV[i] } }
    { seen[$0] = 1 }
    END { for (i = 1; i <= n; i++) printf "%d", (w[i] in seen) }' "$@")
  eval "set -- $B_CK_PROC"
  B_CK_PROC='' B_CK_NAMES=''
  while [ $# -ge 2 ]; do
    case "$_c_found" in
      1*) b_check_record "$1" "$2" 1 '' ;;
      *) b_check_record "$1" "$2" 0 "no process named ${2#*:}" ;;
    esac
    _c_found=${_c_found#?}
    shift 2
  done
}

# A `process:` check where there is no /proc to scan (b_checks_process scans it where there is).
b_check_process() {
  if b_have pgrep; then pgrep -x -- "$1" >/dev/null && return 0; fi
  _c_detail="no process named $1"; return 1
}

b_check_tcp() {
  _h=$1; case "$_h" in \[*\]) _h=${_h#\[}; _h=${_h%\]} ;; esac
  if b_have bash; then
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$_h" "$2" 2>/dev/null && return 0
  elif b_have nc; then
    timeout 3 nc -z -w 3 "$_h" "$2" </dev/null >/dev/null 2>&1 && return 0
  else _c_detail='no TCP client on host (bash or nc)'; return 1; fi
  _c_detail="no TCP connection to $1:$2 within 3 s"; return 1
}

b_check_http() {
  if b_have curl; then
    _code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -- "$1" 2>/dev/null)
  elif b_have wget; then
    _code=$(wget -q -S -T 5 -O /dev/null -- "$1" 2>&1 | awk '/^ *HTTP\//{c=$2} END{print c}')
  else _c_detail='no HTTP client on host (curl or wget)'; return 1; fi
  case "$_code" in 2??) return 0 ;; esac
  _c_detail="HTTP ${_code:-no answer} within 5 s"; return 1
}

# heartbeat.appstack's plan, kept in lib/ (SPEC 2.2) for the exact bootstrap.ini and server.ini it
# was made from, so that a heartbeat needs one program: the checks it runs are still those the
# tool's parser listed (rendered through shq), never a reading of `check =` here.
# B_PLAN_TAG (the plan's first line) and b_plan_check, which finds the plan and checks it, are
# defined by the header (lib/host/kept-code.ts); a heartbeat's cached header has already run it.

# Runs the cached plan for this host's bootstrap.ini and server.ini as they are now, if one is kept.
# The plan is read once, and the bytes checked are the bytes run (a plan replaced or removed
# meanwhile by another heartbeat is simply not run).
b_cached_checks() {
  [ -n "${B_PLAN_DONE:-}" ] || b_plan_check || return 0
  [ -z "$B_PLAN_OK" ] || { eval "$_pt"; b_checks_done; }
  return 0
}

# b_lib_trusted FILE (SPEC 2.2's terms for lib/) is defined by every program's header
# (lib/host/kept-code.ts), before this prelude: the cached form checks this very code with it.

# b_keep_plan NAME < base64: keeps a plan in lib/ (only where the state dir exists: a read creates
# none), dropping the plans kept before it.
b_keep_plan() {
  [ -d "$B_STATE" ] && [ ! -L "$B_STATE/lib" ] || { cat > /dev/null; return 0; }
  [ -d "$B_STATE/lib" ] || mkdir -m 0750 "$B_STATE/lib" 2>/dev/null || { cat > /dev/null; return 0; }
  for _kf in "$B_STATE"/lib/*; do
    [ "${_kf##*/}" = "$1" ] && continue
    { IFS= read -r _ptag < "$_kf"; } 2>/dev/null || continue
    case "$_ptag" in "$B_PLAN_TAG "*) rm -f "$_kf" ;; esac
  done
  b_write_temp "$B_STATE/lib/$1"
  base64 -d > "$_w_tmp" || { rm -f "$_w_tmp"; return 1; }
  b_write_commit "$B_STATE/lib/$1"
}

# ---- the lock (SPEC 2.3) -------------------------------------------------------------------------

B_LOCKED=0
B_STALE=''

# b_path_refused PATH: 0 (and @error CONFIG_ERROR emitted) when a path the program writes or opens
# (the lock, a journal, a log) holds what none of them may be: a symlink (never followed), or
# anything but a regular file (a directory, which ln(1) would link into and mv(1) move into, and
# `exec 9<>` cannot open; a fifo, which an open for writing waits on for good; a socket, a device):
# `@error CONFIG_ERROR symlink B64` | `@error CONFIG_ERROR notfile B64 directory|fifo|socket|device`.
# b_path_refused PATH dir: the same for a path that must be a directory (LOCK.break), with
# `@error CONFIG_ERROR notdir B64 file|fifo|socket|device` for anything else there.
# Racing takers create and remove these paths all the time, so a refusal rests on one test that saw
# the wrong kind there, never on two tests (`-e`, then `! -f`) that another taker's rm or rmdir
# between them would make look like something else. Nothing seen there is nothing to refuse.
b_path_refused() {
  if [ -L "$1" ]; then b_emit "@error CONFIG_ERROR symlink $(b_str64 "$1")"; return 0; fi
  if [ -n "${2:-}" ]; then _lw=notdir _lok=directory; else _lw=notfile _lok=file; fi
  if [ -f "$1" ]; then _lr=file; elif [ -d "$1" ]; then _lr=directory; elif [ -p "$1" ]; then _lr=fifo
  elif [ -S "$1" ]; then _lr=socket; elif [ -b "$1" ] || [ -c "$1" ]; then _lr=device; else return 1; fi
  [ "$_lr" = "$_lok" ] && return 1
  b_emit "@error CONFIG_ERROR $_lw $(b_str64 "$1") $_lr"
  return 0
}

# b_runner_paths: a long operation's journal and log, refused (b_path_refused) when anything but a
# regular file is at their paths: checked under the lock, before the journal is first written.
b_runner_paths() {
  ! b_path_refused "$B_STATE/operations/$J_ID.json" && ! b_path_refused "$B_STATE/logs/$J_ID.log"
}

# A lock record as read: its first 4 KiB (ours are far shorter; anything else is not ours to relay whole).
b_read_lock() { head -c 4096 "$1" 2>/dev/null; }

b_use_flock() { [ -z "${BOOTSTRAP_NO_FLOCK:-}" ] && b_have flock; }

# Does anyone hold a flock(2) lock on FILE? /proc/locks names each lock's file by device and
# inode (a waiter's line has `->` in field 2). A read never takes the lock to find out. Where
# /proc/locks cannot be read, the record's own proof (b_holder_alive) has to do.
# The file's inode comes from this shell's own /proc/self/fdinfo (Linux 5.14 on) and /proc/locks
# is read with builtins (b_lock_ino, b_flock_seen); only where fdinfo has no inode, awk and ls.
b_flock_held() {
  [ -r /proc/locks ] || return 0
  if b_lock_ino "$1"; then b_flock_seen "$_fl_ino"; return; fi
  LC_ALL=C awk -v l="$(ls -di "$1" 2>/dev/null)" '
    BEGIN { split(l, f, " "); ino = ":" f[1]; if (f[1] == "") exit 1 }
    $2 == "FLOCK" && substr($6, length($6) - length(ino) + 1) == ino { held = 1 }
    END { exit !held }' /proc/locks
}

# b_lock_ino FILE: its inode in _fl_ino, read from the fdinfo of a descriptor this shell opens on it
# for the moment (fd 7: the redirection of a compound command, which fails without ending the
# program, where one of `exec` would end it); 1 where it cannot be opened or fdinfo has no `ino:`.
b_lock_ino() {
  _fl_ino=''
  { while read -r _fl_k _fl_v; do
      case "$_fl_k" in ino:) _fl_ino=$_fl_v; break ;; esac
    done < /proc/self/fdinfo/7; } 2>/dev/null 7<"$1"
  case "$_fl_ino" in '' | *[!0-9]*) _fl_ino=''; return 1 ;; esac
}

# b_flock_seen INODE: does /proc/locks list a flock(2) lock (a holder's: a waiter's line has `->`
# in field 2) on a file with that inode?
b_flock_seen() {
  while read -r _ _fl_t _ _ _ _fl_di _; do
    [ "$_fl_t" = FLOCK ] && case "$_fl_di" in *":$1") return 0 ;; esac
  done < /proc/locks
  return 1
}

# b_lock_record OPERATION COMMAND: the record in _lrec (without its last newline), made before the
# lock is taken, so that it is written with one write once it is; the time it was made also in
# B_LOCK_AT (a quick write's time: no second `date`).
b_lock_record() {
  B_LOCK_AT=$(b_now)
  b_pid_stat "$B_SELF"
  _lrec="$B_SELF${B_NL}operation=$1${B_NL}command=$2${B_NL}started_at=$B_LOCK_AT${B_NL}pid_start=$_ps_start"
}

# Has WAIT (seconds) passed since the first time this was asked? On the monotonic clock (b_mono):
# a step of the wall clock neither ends a wait early nor makes it endless.
b_past_deadline() {
  if [ -z "$_deadline" ]; then b_mono; _deadline=1 _dl_s=$_mono _dl_f=$_mono_f; fi
  b_mono_since "$_dl_s" "$_dl_f"
  [ "$_since" -ge $(($1 * 100)) ]
}

# b_take_lock OPERATION COMMAND WAIT_SECONDS: 0 taken; 1 held by a live process (@locked emitted); 2 refused.
b_take_lock() {
  _lk="$B_STATE/bootstrap.pid"
  b_path_refused "$_lk" && return 2
  _deadline='' _brk_tries=0
  if b_use_flock; then
    exec 9<>"$_lk" || { b_emit "@error INTERNAL lock $(b_str64 "cannot open $_lk")"; return 2; }
    _tries=0
    # ksh-family shells open `exec` descriptors close-on-exec, so flock(1) gets a copy made for it
    # (8<&9: a dup2, which never copies close-on-exec). The lock belongs to the open file, which
    # fd 9 keeps open after flock(1) exits.
    while :; do
      # The record is made first: once the lock is ours the file is empty only for the moment of
      # its one write (b_dump_lock reads an empty file whose flock is held as held).
      b_lock_record "$1" "$2"
      _fl_err=$(flock -n 8 8<&9 2>&1) && break
      _fl_rc=$?
      # Held by another is status 1 and silence; anything else is a failure, reported as it is.
      if [ "$_fl_rc" -ne 1 ] || [ -n "$_fl_err" ]; then
        b_emit "@error INTERNAL lock $(b_str64 "flock exited $_fl_rc: $_fl_err")"; exec 9>&-; return 2
      fi
      # A new holder writes its record just after taking the lock, and a leaving one empties it
      # just before letting go: an empty record means "try again in a moment", not "unknown holder".
      _tries=$((_tries + 1))
      _rec=$(b_read_lock "$_lk")
      if b_past_deadline "${3:-0}" && { [ -n "$_rec" ] || [ "$_tries" -gt 20 ]; }; then
        b_locked "$_rec"; exec 9>&-; return 1
      fi
      if [ -n "$_rec" ]; then b_sleep 0.1; else b_sleep 0.05; fi
    done
    # A lock let go of is emptied: only a holder that died leaves a record to read.
    if [ -s "$_lk" ]; then _old=$(b_read_lock "$_lk"); [ -n "$_old" ] && B_STALE=$_old; fi
    printf '%s\n' "$_lrec" > "$_lk" || { b_emit "@error INTERNAL lock $(b_str64 "cannot write $_lk")"; exec 9>&-; return 2; }
  else
    _tmp="$_lk.$B_SELF.new" _ln_tries=0
    while :; do
      # A record that could not be written whole must never be linked in: it would read as stale.
      b_lock_record "$1" "$2"
      printf '%s\n' "$_lrec" > "$_tmp" || { rm -f "$_tmp"; b_emit "@error INTERNAL lock $(b_str64 "cannot write $_tmp")"; return 2; }
      if _ln_err=$(ln "$_tmp" "$_lk" 2>&1); then rm -f "$_tmp"; break; fi
      rm -f "$_tmp"
      # No lock there: the holder released between our ln and now, so try again; but an ln that
      # keeps failing with no lock in its way cannot link at all (a file system without hard links).
      if [ ! -e "$_lk" ]; then
        _ln_tries=$((_ln_tries + 1))
        [ "$_ln_tries" -lt 50 ] && continue
        b_emit "@error INTERNAL lock $(b_str64 "$_ln_err")"; return 2
      fi
      # Gone since our ln: its holder released it; try again. (Only a lock that is there can be
      # judged: an empty reading of a vanished file is no stale record.) Among racing takers the
      # file can vanish and be linked anew between the read and a look at it, so only a lock that
      # stays unreadable is an error.
      if ! _old=$(b_read_lock "$_lk"); then
        _rd_fail=$((${_rd_fail:-0} + 1))
        if [ ! -e "$_lk" ] || [ "$_rd_fail" -lt 20 ]; then b_sleep 0.01; continue; fi
        b_emit "@error INTERNAL lock $(b_str64 "cannot read $_lk")"; return 2
      fi
      _rd_fail=0
      b_lock_fields "$_old"; _opid=$_lk_pid _ost=$_lk_start
      # A live holder's record is complete before it is linked in, so an empty, dead or unproven one
      # is stale (an empty one is what a flock host leaves on release, or a power loss before the
      # data hit disk; an unproven one another tool's bare PID).
      if ! b_holder_alive "$_opid" "$_ost"; then
        b_break_stale "$_lk" "$_old"
        case $? in
          0) [ -n "$_old" ] && B_STALE=$_old; continue ;;
          2) return 2 ;;
          3) continue ;;
        esac
        # Another taker is breaking it (or was, and died doing so): past the wait, LOCKED says so.
        # A break takes a moment, so a few looks are allowed past it, as for an empty record.
        _brk_tries=$((${_brk_tries:-0} + 1))
        if b_past_deadline "${3:-0}" && [ "$_brk_tries" -gt 10 ]; then
          b_emit "@error LOCKED breaking $(b_str64 "$_lk")"; return 1
        fi
        b_sleep 0.05
        continue
      fi
      if b_past_deadline "${3:-0}"; then b_locked "$_old"; return 1; fi
      b_sleep 0.1
    done
  fi
  B_LOCKED=1
  trap 'b_release_lock' EXIT
  # Only lock holders write state files: a temp file seen now was left by a writer killed mid-write.
  for _t in "$B_STATE"/.*.tmp.* "$B_STATE"/products/.*.tmp.* "$B_STATE"/operations/.*.tmp.*; do
    [ -e "$_t" ] && rm -f "$_t" 2>/dev/null
  done
  # In a subshell: it only writes files (it also kept posh's getopt(3) state away from the
  # runner's next `wait`, before b_getopt_reset, which is what the corruption seen there was).
  [ -z "$B_STALE" ] || (b_finish_abandoned) </dev/null >/dev/null 2>&1
  return 0
}

# A runner killed (-9) while it held the lock leaves its journal `running` and the product it was
# running a hook for `provisioning` or `upgrading`. Whoever takes its stale lock over finishes them
# (SPEC 2.5): the journal failed (HOOK_FAILED: a runner killed is no bug of the tool's), finished
# now, naming the step that was running; the product `failed`, as a failed hook leaves it. Under
# the new holder's lock, before its own work (a product changed so is a conflict for a write
# planned from it: it plans again), each file written atomically, the journal last. Only the
# operation the stale record names, and only while its journal is `running` and its runner gone.
b_finish_abandoned() {
  _ro=''
  case "$B_STALE" in *"${B_NL}operation="*) _ro=${B_STALE#*"${B_NL}operation="} _ro=${_ro%%"$B_NL"*} ;; esac
  case "$_ro" in '' | [!A-Za-z0-9]* | *[!A-Za-z0-9_-]*) return 0 ;; esac
  _rj="$B_STATE/operations/$_ro.json"
  [ -f "$_rj" ] && [ ! -L "$_rj" ] || return 0
  b_journal_runner "$_rj"
  case "$_jc" in *'"status":"running","pid":'*'"finishedAt":null,"error":null,'*) ;; *) return 0 ;; esac
  case "$_jp" in '' | *[!0-9]*) return 0 ;; esac
  b_pid_alive "$_jp" "$_js" && return 0
  _rnow=$(b_now) _rstep=''
  for _pf in "$B_STATE"/products/*.ini; do
    [ -f "$_pf" ] && [ ! -L "$_pf" ] || continue
    b_write_temp "$_pf"
    # Exit 10 (provision) or 11 (upgrade) with the file as it becomes, when its [state] says the
    # operation left it running a hook; 1 and nothing written otherwise.
    LC_ALL=C awk -v id="$_ro" -v now="$_rnow" '
      { line[NR] = $0 }
      /^\[/ { sec = $0 }
      sec == "[state]" && /^status=(provisioning|upgrading)$/ { st = NR; act = ($0 ~ /provisioning/) ? 10 : 11 }
      sec == "[state]" && $0 == "last_operation=" id { mine = 1 }
      sec == "[state]" && /^updated_at=/ { up = NR }
      END {
        if (!st || !mine) exit 1
        line[st] = "status=failed"; if (up) line[up] = "updated_at=" now
        for (i = 1; i <= NR; i++) print line[i]
        exit act
      }' "$_pf" > "$_w_tmp"
    case $? in
      10) _ra=provision ;;
      11) _ra=upgrade ;;
      *) rm -f "$_w_tmp"; continue ;;
    esac
    b_write_commit "$_pf" || continue
    [ -n "$_rstep" ] || { _rp=${_pf##*/} _rstep=$_ra; }
  done
  _rm="the operation's process (pid $_jp) was killed: it ended without finishing its journal"
  _rd="{\"pid\":$_jp,\"abandoned\":true"
  if [ -n "$_rstep" ]; then
    _rp=${_rp%.ini}
    _rm="$_rm, while the $_rstep hook of $_rp ran"
    _rd="$_rd,\"product\":$(b_json_str "$_rp"),\"action\":\"$_rstep\""
  fi
  # The journal's first line (b_journal_write) with its outcome put in, the rest as it is.
  _rpre=${_jc%%\"status\":\"running\",\"pid\":*} _rpost=${_jc#*\"finishedAt\":null,\"error\":null,}
  _rmid=${_jc#"$_rpre"\"status\":\"running\"} _rmid=${_rmid%\"finishedAt\":null,\"error\":null,"$_rpost"}
  _rline="$_rpre\"status\":\"failed\"$_rmid\"finishedAt\":\"$_rnow\",\"error\":{\"code\":\"HOOK_FAILED\",\"message\":$(b_json_str "$_rm"),\"details\":$_rd}},$_rpost"
  { printf '%s\n' "$_rline"; tail -n +2 "$_rj"; } | b_write_stdin "$_rj"
}

# Without flock, breaking a stale lock is serialised by a directory, LOCK.break, so that two takers
# can never both remove it and one of them remove the other's fresh lock. Its maker enters only once
# it has put its own file in it, named PID.START (b_pid_stat), and found no other there: whoever
# writes there later sees that file and backs off. Only the maker removes its file, and the
# directory goes with rmdir(1), which removes none but an empty one: a .break is never taken from
# a breaker that runs, whatever anyone's clock says. One left over (its breaker killed, or made by
# hand) is cleared by b_break_reap.
# b_break_stale LOCK RECORD: 0 removed; 3 no longer RECORD there; 1 another taker is at it; 2 refused.
b_break_stale() {
  _brk="$1.break"
  if ! mkdir "$_brk" 2>/dev/null; then
    b_path_refused "$_brk" dir && return 2
    b_break_reap "$_brk"
    return 1
  fi
  b_pid_stat "$B_SELF"
  _bme="$_brk/$B_SELF.$_ps_start"
  { : > "$_bme"; } 2>/dev/null || return 1
  _brc=1
  if b_break_alone "$_brk" "$_bme"; then
    _brc=3
    _bs=$(b_read_lock "$1") && [ "$_bs" = "$2" ] && rm -f "$1" && _brc=0
  fi
  rm -f "$_bme"
  rmdir "$_brk" 2>/dev/null
  return $_brc
}

# Is FILE the only entry of DIR?
b_break_alone() {
  for _be in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    { [ -e "$_be" ] || [ -L "$_be" ]; } && [ "$_be" != "$2" ] && return 1
  done
  return 0
}

# Clears a LOCK.break that no breaker that runs is in: every entry a PID.START file of a process
# that is gone (b_holder_alive), or none at all. A fresh one (made in the last 2 seconds by the
# wall clock) is left to its maker, who may not have put its file in yet; one made 2 seconds ago or
# more, or in the future (a clock stepped back since), is cleared at once. Anything else in it is
# left alone.
b_break_reap() {
  _bm=$(stat -c %Y "$1" 2>/dev/null) || return 0
  _bnow=$(date +%s)
  case "$_bm$_bnow" in '' | *[!0-9]*) return 0 ;; esac
  [ "$_bm" -gt "$_bnow" ] || [ $((_bnow - _bm)) -ge 2 ] || return 0
  for _be in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$_be" ] || [ -L "$_be" ] || continue
    _bn=${_be##*/}
    case "$_bn" in *.*) ;; *) return 0 ;; esac
    _bp=${_bn%%.*} _bt=${_bn#*.}
    case "$_bp" in '' | *[!0-9]*) return 0 ;; esac
    case "$_bt" in *[!0-9]*) return 0 ;; esac
    b_holder_alive "$_bp" "$_bt" && return 0
    rm -f "$_be"
  done
  rmdir "$1" 2>/dev/null
  return 0
}

# @locked RECORD: the holder as read when the lock was found taken.
b_locked() { b_enc "$1"; b_emit "@locked $_f"; }

# Journal-writing runners record themselves as the last operation started (heartbeat.get).
b_mark_last() { printf '%s\n' "$J_ID" | b_write_stdin "$B_STATE/operations/.last"; }

b_release_lock() {
  [ "$B_LOCKED" = 1 ] || return 0
  B_LOCKED=0
  _rs=''
  [ -n "$B_CONFLICT" ] && _rs=$B_STALE
  if b_use_flock; then
    if [ -n "$_rs" ]; then printf '%s\n' "$_rs" > "$B_STATE/bootstrap.pid"; else : > "$B_STATE/bootstrap.pid"; fi
    flock -u 8 8<&9 2>/dev/null
    exec 9>&-
  else
    _rl=''; { read -r _rl < "$B_STATE/bootstrap.pid"; } 2>/dev/null
    [ "$_rl" = "$B_SELF" ] || return 0
    # Handed on by a rename over this holder's own record: the lock is never absent meanwhile.
    if [ -n "$_rs" ] && printf '%s\n' "$_rs" > "$B_STATE/bootstrap.pid.$B_SELF.new" &&
      mv -f "$B_STATE/bootstrap.pid.$B_SELF.new" "$B_STATE/bootstrap.pid"; then return 0; fi
    rm -f "$B_STATE/bootstrap.pid" "$B_STATE/bootstrap.pid.$B_SELF.new"
  fi
}

# @conflict: nothing of this program's own is done. A stale lock it took over is handed on as it was
# found (b_release_lock), so that the attempt planned anew, which does the work, records it too.
B_CONFLICT=''
b_conflict() { B_CONFLICT=1; b_emit "@conflict"; }

# b_expect_unchanged PATH SHA256|absent ...: @conflict and status 1 when any file differs from what
# was read; @error and status 2 when it cannot tell (a hash that cannot be taken is no conflict).
b_expect_unchanged() {
  _eu_args='' _eu_want='' _eu_fd=3
  while [ $# -ge 2 ]; do
    if [ "$2" = absent ]; then
      [ -e "$1" ] && { b_conflict; return 1; }
    else
      [ -f "$1" ] || { b_conflict; return 1; }
      # Hashed together: one sha256sum for up to six files, opened as fds 3-8 (9 holds the lock),
      # so that any path is safe in its output.
      b_quote "$1"
      _eu_args="$_eu_args /dev/fd/$_eu_fd $_eu_fd<$_f" _eu_want="$_eu_want $2" _eu_fd=$((_eu_fd + 1))
      if [ "$_eu_fd" -eq 9 ]; then b_expect_hashes || return $?; fi
    fi
    shift 2
  done
  b_expect_hashes
}

# The hashes of the files b_expect_unchanged collected, against those it expects.
b_expect_hashes() {
  [ -n "$_eu_want" ] || return 0
  _h=$(eval "sha256sum $_eu_args") || { b_emit "@error INTERNAL sha256sum"; return 2; }
  set -- $_h
  for _w in $_eu_want; do
    [ "${1:-}" = "$_w" ] || { b_conflict; return 1; }
    if [ $# -ge 2 ]; then shift 2; else set --; fi
  done
  _eu_args='' _eu_want='' _eu_fd=3
  return 0
}

# b_check_hook PRODUCT ACTION PATH: @error INVALID_SCRIPT when missing or not executable.
b_check_hook() {
  if [ ! -e "$3" ]; then _why=missing
  elif [ ! -f "$3" ]; then _why=notfile
  elif [ ! -x "$3" ]; then _why=notexecutable
  else return 0; fi
  b_emit "@error INVALID_SCRIPT $1 $2 $_why $(b_str64 "$3")"
  return 1
}

# ---- long operations: journal and hooks (SPEC 2.4, 2.5) ---------------------------------------------
# The runner sets J_ID (operation id), J_HEAD (JSON of "id","command","args" fields, rendered by
# lib/host), then calls these. Steps accumulate in J_STEPS as JSON.

J_STEPS=''
J_EXTRA=''
J_PID_START=''
J_STATUS=running
J_ERROR=null
J_FINISHED=null

# A here-document, not printf: the steps' output can outgrow what one argument may carry (mksh and
# posh run printf as a program). Two lines of JSON: the first holds everything but the steps (and
# staleLockRemoved), so that whoever needs the runner or the outcome reads only that line.
b_journal_write() {
  b_write_stdin "$B_STATE/operations/$J_ID.json" <<B_JOURNAL
{$J_HEAD,"status":"$J_STATUS","pid":$$,"pidStart":"$J_PID_START","startedAt":"$J_STARTED","finishedAt":$J_FINISHED,"error":$J_ERROR,
"steps":[$J_STEPS]$J_EXTRA}
B_JOURNAL
}

# The old holder of a stale lock, as the journal's staleLockRemoved, with the record as it was.
b_journal_stale() {
  [ -n "$B_STALE" ] || return 0
  _sp=$(printf '%s\n' "$B_STALE" | sed -n 1p)
  case "$_sp" in '' | *[!0-9]*) _sp=null ;; esac
  _so=$(printf '%s\n' "$B_STALE" | sed -n 's/^operation=//p')
  _sc=$(printf '%s\n' "$B_STALE" | sed -n 's/^command=//p')
  _sa=$(printf '%s\n' "$B_STALE" | sed -n 's/^started_at=//p')
  J_EXTRA=",\"staleLockRemoved\":{\"pid\":$_sp,\"operation\":$(b_json_str "$_so"),\"command\":$(b_json_str "$_sc"),\"started_at\":$(b_json_str "$_sa"),\"record\":$(b_json_str "$B_STALE")}"
}

# b_fail CODE MESSAGE DETAILS_JSON: the operation's error (message is plain text, escaped here).
b_fail() {
  J_STATUS=failed
  J_ERROR="{\"code\":\"$1\",\"message\":$(b_json_str "$2"),\"details\":$3}"
}

# A state write failed mid-operation (disk full, read-only): the operation fails, loudly.
b_write_failed() {
  b_fail INTERNAL "could not write $1" "{\"file\":$(b_json_str "$1")}"
  b_finish
}

# b_put FILE: a runner's write of FILE (b_write_b64, the data on stdin); where it fails, so does
# the operation.
b_put() { b_write_b64 "$1" || b_write_failed "$1"; }

b_finish() {
  [ "$J_STATUS" = running ] && J_STATUS=succeeded
  J_FINISHED="\"$(b_now)\""
  b_journal_write
  b_release_lock
  exit 0
}

# b_run_hook PRODUCT ACTION PATH [VERSION]: runs one hook with SPEC 2.4's environment, stdin
# closed, the lock's descriptor closed, its output appended to the operation's log; adds a step.
# The caller exports the BOOTSTRAP_CFG_* variables (in a subshell) before calling.
b_run_hook() {
  _log="$B_STATE/logs/$J_ID.log"
  _off=$(wc -c < "$_log" 2>/dev/null || echo 0)
  # The timeout's measure on the monotonic clock (b_mono: no process), the step's times the wall
  # clock's: one `date` at each end, as ever.
  b_mono; _t0=$_mono _t0f=$_mono_f _st=$(b_now)
  # The redirections are made inside, so that the subshell's last `exec` makes $! the hook's own
  # process (timeout, or the hook): yash forks once more for a subshell with redirections attached
  # (`( ... ) 0<&- &`), and a signal to $! then stopped that shell, never the hook (b_on_signal).
  (
    exec 9>&- 0<&- >>"$_log" 2>&1
    cd / || exit 126
    # Exactly SPEC 2.4's variables: nothing BOOTSTRAP_* inherited from whoever started us.
    for _v in $(env | sed -n 's/^\(BOOTSTRAP_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$_v"; done
    [ -n "${B_CFG_FN:-}" ] && "$B_CFG_FN"
    BOOTSTRAP_OPERATION_ID=$J_ID BOOTSTRAP_COMMAND=$J_COMMAND BOOTSTRAP_PRODUCT=$1 \
      BOOTSTRAP_STATE_DIR=$B_STATE BOOTSTRAP_PRODUCT_FILE="$B_STATE/products/$1.ini"
    export BOOTSTRAP_OPERATION_ID BOOTSTRAP_COMMAND BOOTSTRAP_PRODUCT BOOTSTRAP_STATE_DIR BOOTSTRAP_PRODUCT_FILE
    if [ $# -ge 4 ]; then BOOTSTRAP_VERSION=$4; export BOOTSTRAP_VERSION; set -- "$3" "$4"; else set -- "$3"; fi
    if b_have timeout; then exec timeout -k 10 "$B_HOOK_TIMEOUT" "$@"; else exec "$@"; fi
  ) &
  B_HOOK_PID=$! B_HOOK_STEP="$1 $2"
  b_getopt_reset
  wait "$B_HOOK_PID"
  b_status $?
  B_HOOK_PID=''
  b_step_done "$1" "$2" "$_rc"
  # The journal lists each step as soon as it ends, so a runner killed later still says what it did.
  [ "$_rc" -eq 0 ] && { b_journal_write; return 0; }
  case "$_rc" in
    124 | 137 | 143)
      if [ "$_elapsed" -ge $((B_HOOK_TIMEOUT * 100)) ]; then
        b_fail HOOK_TIMEOUT "$2 hook of $1 ran longer than $B_HOOK_TIMEOUT s" \
          "{\"product\":\"$1\",\"action\":\"$2\",\"timeoutSeconds\":$B_HOOK_TIMEOUT}"
        return 1
      fi ;;
  esac
  b_fail HOOK_FAILED "$2 hook of $1 exited $_rc" "{\"product\":\"$1\",\"action\":\"$2\",\"exitCode\":$_rc}"
  return 1
}

# b_status STATUS: in _rc, a status as most shells give it, 128+N for a process killed by signal N,
# where ksh93 says 256+N and yash 384+N: a step's exitCode is the same under every shell.
b_status() {
  _rc=$1
  if [ "$_rc" -gt 384 ]; then _rc=$((_rc - 256)); elif [ "$_rc" -gt 256 ]; then _rc=$((_rc - 128)); fi
}

# b_step_done PRODUCT ACTION EXIT: adds b_run_hook's step to the journal's list (its start, its
# end now, the last 4 KiB of what it printed); how long it ran, in hundredths of a second on the
# monotonic clock, in _elapsed.
b_step_done() {
  b_mono_since "$_t0" "$_t0f"; _elapsed=$_since _fin=$(b_now)
  _out=$(tail -c +$((_off + 1)) "$_log" | tail -c 4096 | b_json_stdin 1)
  J_STEPS="$J_STEPS${J_STEPS:+,}{\"product\":\"$1\",\"action\":\"$2\",\"exitCode\":$3,\"startedAt\":\"$_st\",\"finishedAt\":\"$_fin\",\"output\":$_out}"
}

# SIGTERM/SIGINT/SIGHUP on the runner: stop the hook and list its step with what it printed,
# record the failure, release the lock.
b_on_signal() {
  trap '' TERM INT HUP
  if [ -n "${B_HOOK_PID:-}" ]; then
    # $! is timeout (which passes the signal on and waits for the hook) or the hook itself: the
    # lock is let go of only once the hook has ended.
    kill -TERM "$B_HOOK_PID" 2>/dev/null
    b_getopt_reset
    wait "$B_HOOK_PID" 2>/dev/null
    b_status $?
    # B_HOOK_STEP is a product name and an action: two words, split here on purpose.
    # shellcheck disable=SC2086
    b_step_done $B_HOOK_STEP "$_rc"
  fi
  b_fail HOOK_FAILED "interrupted by SIG$1" "{\"signal\":\"$1\"}"
  [ -n "${B_ON_SIGNAL_STATE:-}" ] && eval "$B_ON_SIGNAL_STATE"
  b_finish
}

# ---- a long operation's runner (lib/host/programs.ts renderRunnerBody) -------------------------------
# Its lines set J_ID, J_COMMAND, J_HEAD and B_HOOK_TIMEOUT, then call these in order, with its own
# checks between them: the same lines in every runner, kept here so that a command carries only
# what is the runner's own (lib/host/kept-code.ts b_long writes this code into every runner).

# b_long_known: an id that already has a journal answers with it instead of running again (SPEC
# 2.5); the runner then exits.
b_long_known() {
  [ -f "$B_STATE/operations/$J_ID.json" ] || return 1
  b_dump_journal "$J_ID"
}

# b_long_lock WAIT: the state dirs, then the lock (waiting up to WAIT seconds), the id once more
# under it, and nothing but a regular file (or nothing) at the journal's and the log's paths,
# refused before anything changes (a directory there took the journal in, a fifo hung the runner
# holding the lock). Where any of them answers, the runner exits.
b_long_lock() {
  b_mkdirs; case $? in 0) ;; 2) exit 0 ;; *) b_emit "@error INTERNAL mkdir"; exit 0 ;; esac
  b_take_lock "$J_ID" "$J_COMMAND" "$1" || exit 0
  b_long_known && exit 0
  b_runner_paths || exit 0
}

# b_long_begin: the operation is the runner's from here: a signal ends it as failed, its journal
# says running, it is the last operation; its answer (the journal) is relayed, and from then on
# what it prints goes to its log or nowhere (traps and `exec` made in a function are the shell's).
b_long_begin() {
  trap 'b_on_signal TERM' TERM; trap 'b_on_signal INT' INT; trap 'b_on_signal HUP' HUP
  J_STARTED=$(b_now); b_pid_stat $$; J_PID_START=$_ps_start
  b_journal_stale
  b_journal_write || { b_emit "@error INTERNAL journal"; exit 0; }
  b_mark_last
  b_fault long:started
  exec 2>>"$B_STATE/logs/$J_ID.log"
  b_dump_journal "$J_ID"
  exec >/dev/null
}

# b_step N PRODUCT ACTION PATH [VERSION]: step N, whose product file the runner has just written
# as it is while the hook runs. Runs the hook with b_step_N_env's variables; on success writes the
# file as b_step_N_ok does, on failure (or a signal meanwhile) as b_step_N_failed does, and ends.
b_step() {
  b_fault "long:before-hook-$1"
  B_STEP_N=$1 B_CFG_FN=b_step_$1_env B_ON_SIGNAL_STATE=b_step_$1_failed
  if b_run_hook "$2" "$3" "$4" ${5+"$5"}; then
    B_ON_SIGNAL_STATE=; "b_step_${B_STEP_N}_ok"
  else
    B_ON_SIGNAL_STATE=; "b_step_${B_STEP_N}_failed"; b_finish
  fi
  b_fault "long:after-hook-$B_STEP_N"
}

# b_follow ID WAIT_SECONDS: wait until the operation's journal is final (or its process is gone,
# or WAIT runs out), then dump it.
b_follow() {
  _fj="$B_STATE/operations/$1.json"
  b_mono; _fd0=$_mono _fd0f=$_mono_f
  while [ -f "$_fj" ] && [ ! -L "$_fj" ] && b_mono_since "$_fd0" "$_fd0f" && [ "$_since" -lt $(($2 * 100)) ]; do
    b_journal_runner "$_fj"
    b_pid_alive "$_jp" "$_js" || break
    # A final journal is written just before the runner lets go of the lock: wait for it to be
    # gone too, so that whoever follows can start the next operation at once.
    case "$_jc" in
      *'"status":"running","pid":'*) b_sleep 0.1 ;;
      *) b_sleep 0.02 ;;
    esac
  done
  b_dump_journal "$1"
}
