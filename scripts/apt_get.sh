# apt_get ARGS...: apt-get (through $sudo when set), waiting up to 10 minutes while another apt, an
# unattended upgrade or the desktop's updater holds the lock, instead of failing at once with
# "Could not get lock". Any other failure prints apt's message and returns 1. Sourced by setup.sh.
apt_get() {
    local waited=0 step="${APT_WAIT_STEP:-10}" limit="${APT_WAIT_LIMIT:-600}" log
    log="$(mktemp)"
    until DEBIAN_FRONTEND=noninteractive ${sudo:-} apt-get -o DPkg::Lock::Timeout=60 "$@" 2>"$log" >/dev/null; do
        if grep -qiE "could not get lock|unable to lock|is another process using it" "$log" \
                && awk -v w="$waited" -v l="$limit" 'BEGIN { exit !(w < l) }'; then
            [ "$waited" = 0 ] && echo "setup: apt is busy (another install or an update is running); waiting for it" >&2
            sleep "$step"
            waited=$(awk -v w="$waited" -v s="$step" 'BEGIN { print w + s }')
        else
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
    done
    rm -f "$log"
}
