# Shared by the resumable training scripts (source it after setting CT, WORK, RUNS and COMMON).

merge() {  # merge OUT KIND DIR...: the DIRs' KIND.csv (bce, ctc) in one manifest (paths relative to WORK)
  local out=$1 kind=$2; shift 2
  { head -1 "$WORK/$1/$kind.csv"
    for d in "$@"; do
      tail -n +2 "$WORK/$d/$kind.csv" | sed "s|^audio/|$d/audio/|; s|,labels/|,$d/labels/|; s|,themes/|,$d/themes/|"
    done
  } > "$WORK/$out"
}

stage() {  # stage NAME MINUTES ARGS...: train, or continue the stage's last state (env STAGE_MINUTES_NAME: its budget)
  local name=$1 minutes=$2; shift 2
  local var="STAGE_MINUTES_$name"
  minutes=${!var:-$minutes}
  local resume=""
  [ -f "$RUNS/$name.last.pt" ] && resume="--resume"
  "$CT" train "$@" -o "$RUNS/$name.pt" $COMMON --max-minutes "$minutes" $resume
}
