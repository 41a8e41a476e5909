#!/usr/bin/env bash
# A real Keystone (v3, fernet, sqlite, uwsgi) and Glance (v2, file store, sqlite) on 127.0.0.1,
# from Debian's packages, without systemd — for tests and the README's main command.
#
#   scripts/openstack-local.sh start    install if needed, configure, start, wait, write clouds.yaml
#   scripts/openstack-local.sh stop     stop only the processes this script started (pidfiles)
#   scripts/openstack-local.sh status
#   scripts/openstack-local.sh purge    stop and delete all state
#
# After start: OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml with clouds kvmbuild-admin,
# kvmbuild-demo and kvmbuild-appcred (an application credential of demo).
# Knobs: KVMBUILD_OPENSTACK_DIR (state, default /var/lib/kvmbuild-openstack), OS_ADMIN_PASSWORD.
# Recipe and pitfalls: sqlite WAL, uwsgi --threads 1, Connection: close, bcrypt rounds 4, --die-on-term.
set -euo pipefail

STATE="${KVMBUILD_OPENSTACK_DIR:-/var/lib/kvmbuild-openstack}"
ADMIN_PW="${OS_ADMIN_PASSWORD:-kvmbuild-admin}"
GLANCE_PW=kvmbuild-glance
# Unlike any cloud, user or project name, so a leak check can tell a printed password from a name.
DEMO_PW=kvmb-demo-pw-0c71
KS_PORT=5000
GL_PORT=9292
PY=/usr/bin/python3   # the OpenStack libraries live in Debian's python, not a pyenv one
RUN="$STATE/run"; LOG="$STATE/log"

log() { echo "openstack-local: $*" >&2; }

install_packages() {
  local missing=()
  for p in keystone glance-api python3-openstackclient uwsgi-plugin-python3 sqlite3 curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  local made_policy=0
  # Keep postinsts from starting the packaged services on the standard ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_taken_by_other() {  # $1 port, $2 pidfile
  alive "$2" && return 1
  (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null
}

write_configs() {
  mkdir -p "$STATE"/{keystone,glance/images,glance/staging,glance/lock} "$RUN" "$LOG"
  cat > "$STATE/keystone/keystone.conf" <<CONF
[DEFAULT]
log_file = $LOG/keystone.log
[database]
connection = sqlite:///$STATE/keystone/keystone.db
[identity]
# Test instance only: bcrypt cost 4 keeps a password check at ~0.1 s.
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[fernet_receipts]
key_repository = $STATE/keystone/fernet-keys
[credential]
key_repository = $STATE/keystone/credential-keys
CONF
  cp /usr/share/glance-common/glance-api-paste.ini "$STATE/glance/glance-api-paste.ini" 2>/dev/null \
    || cp /etc/glance/glance-api-paste.ini "$STATE/glance/glance-api-paste.ini"
  cat > "$STATE/glance/glance-api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $GL_PORT
workers = 1
log_file = $LOG/glance-api.log
enabled_import_methods = [glance-direct]
node_staging_uri = file://$STATE/glance/staging
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $STATE/glance/images/
[database]
connection = sqlite:///$STATE/glance/glance.db
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:$KS_PORT
auth_url = http://127.0.0.1:$KS_PORT
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = $GLANCE_PW
region_name = RegionOne
[paste_deploy]
flavor = keystone
config_file = $STATE/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $STATE/glance/lock
CONF
}

init_databases() {
  [ -f "$STATE/.initialised" ] && return
  local KM="keystone-manage --config-file $STATE/keystone/keystone.conf"
  $KM db_sync 2>/dev/null
  sqlite3 "$STATE/keystone/keystone.db" 'PRAGMA journal_mode=WAL;' >/dev/null
  $KM fernet_setup --keystone-user root --keystone-group root 2>/dev/null
  $KM credential_setup --keystone-user root --keystone-group root 2>/dev/null
  $KM bootstrap --bootstrap-password "$ADMIN_PW" --bootstrap-username admin \
    --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "http://127.0.0.1:$KS_PORT/v3/" \
    --bootstrap-public-url "http://127.0.0.1:$KS_PORT/v3/" \
    --bootstrap-internal-url "http://127.0.0.1:$KS_PORT/v3/" 2>/dev/null
  glance-manage --config-file "$STATE/glance/glance-api.conf" db_sync >/dev/null 2>&1
  sqlite3 "$STATE/glance/glance.db" 'PRAGMA journal_mode=WAL;' >/dev/null
  touch "$STATE/.initialised"
}

start_services() {
  if port_taken_by_other $KS_PORT "$RUN/keystone.pid"; then log "port $KS_PORT is taken by a process this script did not start; stop it first"; exit 1; fi
  if port_taken_by_other $GL_PORT "$RUN/glance-api.pid"; then log "port $GL_PORT is taken by a process this script did not start; stop it first"; exit 1; fi
  if ! alive "$RUN/keystone.pid"; then
    OS_KEYSTONE_CONFIG_FILES="$STATE/keystone/keystone.conf" \
    uwsgi --plugin python3 --http-socket 127.0.0.1:$KS_PORT --wsgi-file /usr/bin/keystone-wsgi-public \
      --master --processes 2 --threads 1 --lazy-apps --die-on-term --buffer-size 65535 \
      --add-header 'Connection: close' --pidfile "$RUN/keystone.pid" --daemonize "$LOG/keystone-uwsgi.log"
  fi
  if ! alive "$RUN/glance-api.pid"; then
    setsid glance-api --config-file "$STATE/glance/glance-api.conf" </dev/null >>"$LOG/glance-api.stdout" 2>&1 &
    echo $! > "$RUN/glance-api.pid"
  fi
}

wait_http() {  # $1 url, $2 what
  for _ in $(seq 1 120); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.5; done
  log "$2 did not answer at $1; see $LOG"; exit 1
}

create_identities() {
  [ -f "$STATE/.identities" ] && return
  OS_AUTH_URL="http://127.0.0.1:$KS_PORT/v3" OS_ADMIN_PASSWORD="$ADMIN_PW" GLANCE_PW="$GLANCE_PW" DEMO_PW="$DEMO_PW" \
  GL_URL="http://127.0.0.1:$GL_PORT" STATE="$STATE" $PY - <<'PYEOF'
import json, os, openstack
conn = openstack.connect(auth_url=os.environ["OS_AUTH_URL"], username="admin", password=os.environ["OS_ADMIN_PASSWORD"],
                         project_name="admin", user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
idn = conn.identity
def project(name):
    return idn.find_project(name, domain_id="default") or idn.create_project(name=name, domain_id="default")
def user(name, pw):
    return idn.find_user(name, domain_id="default") or idn.create_user(name=name, password=pw, domain_id="default")
def role(name):
    return idn.find_role(name) or idn.create_role(name=name)
service_p, demo_p = project("service"), project("demo")
glance_u, demo_u = user("glance", os.environ["GLANCE_PW"]), user("demo", os.environ["DEMO_PW"])
admin_r, member_r, service_r = role("admin"), role("member"), role("service")
idn.assign_project_role_to_user(service_p, glance_u, admin_r)
idn.assign_project_role_to_user(service_p, glance_u, service_r)
idn.assign_project_role_to_user(demo_p, demo_u, member_r)
svc = idn.find_service("glance") or idn.create_service(name="glance", type="image", description="OpenStack Image")
have = {e.interface for e in idn.endpoints(service_id=svc.id)}
for iface in ("public", "internal", "admin"):
    if iface not in have:
        idn.create_endpoint(service_id=svc.id, interface=iface, url=os.environ["GL_URL"], region_id="RegionOne")
demo = openstack.connect(auth_url=os.environ["OS_AUTH_URL"], username="demo", password=os.environ["DEMO_PW"],
                         project_name="demo", user_domain_name="Default", project_domain_name="Default")
cred = demo.identity.create_application_credential(user=demo_u.id, name="kvmbuild-test")
json.dump({"id": cred.id, "secret": cred.secret, "demo_project_id": demo_p.id},
          open(os.path.join(os.environ["STATE"], "appcred.json"), "w"))
PYEOF
  touch "$STATE/.identities" "$STATE/.demo-pw-2"
}

# Clouds made before the demo password changed: set it to the current one (once).
reset_demo_password() {
  [ -f "$STATE/.demo-pw-2" ] && return
  OS_AUTH_URL="http://127.0.0.1:$KS_PORT/v3" OS_ADMIN_PASSWORD="$ADMIN_PW" DEMO_PW="$DEMO_PW" $PY - <<'PYEOF'
import os, openstack
conn = openstack.connect(auth_url=os.environ["OS_AUTH_URL"], username="admin", password=os.environ["OS_ADMIN_PASSWORD"],
                         project_name="admin", user_domain_name="Default", project_domain_name="Default", region_name="RegionOne")
conn.identity.update_user(conn.identity.find_user("demo", domain_id="default"), password=os.environ["DEMO_PW"])
PYEOF
  touch "$STATE/.demo-pw-2"
}

write_clouds() {
  local appcred_id appcred_secret
  appcred_id=$($PY -c "import json;print(json.load(open('$STATE/appcred.json'))['id'])")
  appcred_secret=$($PY -c "import json;print(json.load(open('$STATE/appcred.json'))['secret'])")
  ( umask 077; cat > "$STATE/clouds.yaml" <<YAML
clouds:
  kvmbuild-admin:
    auth:
      auth_url: http://127.0.0.1:$KS_PORT/v3
      username: admin
      password: $ADMIN_PW
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
  kvmbuild-demo:
    auth:
      auth_url: http://127.0.0.1:$KS_PORT/v3
      username: demo
      password: $DEMO_PW
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
  kvmbuild-appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://127.0.0.1:$KS_PORT/v3
      application_credential_id: $appcred_id
      application_credential_secret: $appcred_secret
    region_name: RegionOne
YAML
  )
}

stop_services() {
  for name in glance-api keystone; do
    local pidfile="$RUN/$name.pid"
    if alive "$pidfile"; then
      local pid; pid=$(cat "$pidfile")
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

case "${1:-start}" in
  start)
    install_packages
    write_configs
    init_databases
    start_services
    wait_http "http://127.0.0.1:$KS_PORT/v3" keystone
    create_identities
    reset_demo_password
    wait_http "http://127.0.0.1:$GL_PORT/healthcheck" glance
    write_clouds
    log "ready: OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml (clouds kvmbuild-admin, kvmbuild-demo, kvmbuild-appcred)"
    echo "$STATE/clouds.yaml"
    ;;
  stop) stop_services ;;
  status)
    for name in keystone glance-api; do alive "$RUN/$name.pid" && echo "$name running ($(cat "$RUN/$name.pid"))" || echo "$name stopped"; done ;;
  purge) stop_services; rm -rf "$STATE" ;;
  *) echo "usage: $0 start|stop|status|purge" >&2; exit 2 ;;
esac
