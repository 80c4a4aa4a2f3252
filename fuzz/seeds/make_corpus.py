#!/usr/bin/env python3
"""Write the seed corpus fuzz/corpus/<target>/ (run from the repo root: python3 fuzz/seeds/make_corpus.py).

Seeds are the Adobe seed-document samples (tests/fixtures/pass, extracted from /work/shared/seeds), the
spec's documented shapes, the fixture boxes, and a few hostile inputs. Fuzzing adds its own finds to a
separate working corpus (fuzz/work/, not committed).
"""
import json, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fuzz", "corpus")
PASS = os.path.join(ROOT, "tests", "fixtures", "pass")
BOXES = os.path.join(ROOT, "tests", "fixtures", "boxes")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(name):
    with open(os.path.join(PASS, name), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- rpc_request
put("rpc_request", "request", '{"jsonrpc":"2.0","id":7,"method":"session.create","params":{"mvpd":"Cablevision","domainName":"adobe.com"}}')
put("rpc_request", "notification", '{"jsonrpc":"2.0","method":"auth.status","params":[]}')
put("rpc_request", "batch", '[{"jsonrpc":"2.0","id":1,"method":"decision.authorize","params":{"resources":["REF30","REF31"],"refresh":true}},5,{"jsonrpc":"2.0","id":"b","method":"x","extra":1}]')
put("rpc_request", "bad-id", '{"jsonrpc":"2.0","id":{"a":[1]},"method":"agent.version"}')
put("rpc_request", "bad-params", '{"jsonrpc":"1.0","id":-3,"method":"x","params":"p"}')
put("rpc_request", "invalid-utf8", b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}')
put("rpc_request", "empty-batch", "  []  ")
# Nesting at the limit (64 levels, accepted) and one past it (refused before anything clones it).
put("rpc_request", "depth-64", '{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":' + "[" * 62 + "]" * 62 + "}}")
put("rpc_request", "depth-65", '{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":' + "[" * 63 + "]" * 63 + "}}")
put("rpc_request", "accessors", '{"jsonrpc":"2.0","id":"q","method":"m","params":{"a":null,"b":"","c":true,"d":["x",""],"e":[],"f":"' + "y" * 4097 + '","g":1}}')

# ---------------------------------------------------------------- rpc_dispatch (byte 0 = method index)
METHODS = ["agent.version", "device.info", "device.identifier", "auth.status", "session.create",
           "session.resume", "session.get", "session.partner", "auth.logout", "profile.get",
           "providers.list", "decision.authorize", "decision.preauthorize", "legacy.authenticate_url"]
def call(method, params):
    return bytes([METHODS.index(method)]) + json.dumps(params).encode()
put("rpc_dispatch", "version", call("agent.version", {}))
put("rpc_dispatch", "create", call("session.create", {"mvpd": "Cablevision", "domainName": "adobe.com", "redirectUrl": "https://adobe.com"}))
put("rpc_dispatch", "partner", call("session.partner", {"partner": "Apple", "accessStatus": "granted", "providerId": "Cablevision", "expirationDate": "1733737089035"}))
put("rpc_dispatch", "decision", call("decision.preauthorize", {"resources": ["REF30", "<rss><channel><title>x</title></channel></rss>"], "mvpd": "Cablevision"}))
put("rpc_dispatch", "profile", call("profile.get", {"mvpd": "Cablevision", "refresh": True}))
put("rpc_dispatch", "legacy", call("legacy.authenticate_url", {"mvpd": "Cablevision", "regCode": "8ER640M", "genericData": "a b&c=d\u00e9"}))
put("rpc_dispatch", "logout-typo", call("auth.logout", {"mvdp": "Cablevision"}))
put("rpc_dispatch", "resume", call("session.resume", {"code": "8ER640M", "mvpd": "Cablevision", "redirectUrl": ""}))
put("rpc_dispatch", "get", call("session.get", {"code": "8ER640M"}))
put("rpc_dispatch", "status", call("auth.status", {}))
put("rpc_dispatch", "device", call("device.info", {"x": None}))
put("rpc_dispatch", "providers", call("providers.list", []))

# ---------------------------------------------------------------- pass_session (seed 000 and 002 samples)
for f in sorted(os.listdir(PASS)):
    if f.endswith(".response.json"):
        put("pass_session", f[: -len(".response.json")], fixture(f))
put("pass_session", "depth-65", '{"actionName":"resume","x":' + "[" * 64 + "]" * 64 + "}")
put("pass_session", "retrieve", '{"existingParameters":{"serviceProvider":"REF30","mvpd":"Cablevision","domain":"adobe.com","redirectUrl":"https://adobe.com"},"missingParameters":[],"device":{"type":"SetTopBox"},"notBefore":"1733735289035","notAfter":1733737089035}')

# ---------------------------------------------------------------- pass_profiles (spec 3.2, 4.3)
put("pass_profiles", "profiles", '{"profiles":{"Cablevision":{"notBefore":1752149281000,"notAfter":"1783685280000","issuer":"Spectrum","type":"regular","attributes":{"userID":{"value":"u1","state":"plain"},"zip":{"value":["a",{"b":1}],"state":"enc"}}},"TempPass_TEST40":{"notBefore":1,"notAfter":2.5e3,"issuer":"Adobe","type":"temporary","sessionId":"x"},"Weird":{"type":"quantumSSO","notAfter":-5},"NotAnObject":5}}')
put("pass_profiles", "empty", '{"profiles":{}}')
put("pass_profiles", "item-error", '{"profiles":{"Cablevision":{"error":{"code":"temporary_access_duration_limit_exceeded","action":"authentication","status":403}}}}')
put("pass_profiles", "logouts", '{"logouts":{"Cablevision":{"actionName":"logout","actionType":"interactive","mvpd":"Cablevision","url":"/adobe-services/logout?requestor=REF30"},"TempPass_TEST40":{"actionName":"complete","actionType":"none"},"Apple":{"actionName":"partner_logout","actionType":"partner_interactive"}}}')

# ---------------------------------------------------------------- pass_decisions (spec 4.1)
put("pass_decisions", "decisions", '{"decisions":[{"resource":"REF30","serviceProvider":"REF30","mvpd":"Cablevision","source":"mvpd","authorized":true,"token":{"notBefore":"1697550907230","notAfter":1697551207230,"serializedToken":"PHNpZ25hdHVyZUluZm8+"},"notBefore":1697550907230,"notAfter":1697551807230},{"resource":"REF31","authorized":"false","source":"mvpd","error":{"action":"none","status":403,"code":"authorization_denied_by_mvpd","message":"m","details":{"mvpd":"x"},"helpUrl":"h","trace":"t"}}]}')
put("pass_decisions", "retry-item", '{"decisions":[{"resource":"R","authorized":false,"error":{"action":"retry","status":"503","code":"network_received_error"}},7,null]}')
put("pass_decisions", "empty", '{"decisions":null}')

# ---------------------------------------------------------------- pass_errors (spec 6.1, 10 #21)
put("pass_errors", "flat", '{"action":"none","status":400,"code":"invalid_parameter_service_provider","message":"The service provider parameter value is missing or invalid.","details":"more","helpUrl":"https://experienceleague.adobe.com/x","trace":"8bcb17f9-b172-47d2-86d9-3eb146f93e1b"}')
put("pass_errors", "errors-array", '{"errors":[{"code":"unknown_integration","message":"m1","helpUrl":"h","action":"configuration"},{"code":"invalid_mvpd_response","message":"m2","action":"retry","extra":[1,2]},"junk"]}')
put("pass_errors", "error-object", '{"error":{"code":"c","action":"authentication","status":401}}')
put("pass_errors", "oauth", '{"error":"invalid_client","error_description":"client unknown"}')
put("pass_errors", "item-decisions", '{"decisions":[{"resource":"REF31","authorized":false,"error":{"action":"retry","status":403,"code":"network_received_error","details":[1,{"a":null}]}}]}')
put("pass_errors", "legacy-status", '{"status":400,"message":"Required \'String\' parameter \'deviceId\' is not present"}')

# ---------------------------------------------------------------- pass_configuration (spec 4.4)
put("pass_configuration", "configuration", '{"device":"SetTopBox","clientType":"REST_V2","os":"Linux","requestor":{"id":"REF30","name":"REF30","domains":[{"name":"adobe.com","mvpdInitiated":false}],"mvpds":[{"id":"Cablevision","displayName":"Optimum","logoUrl":"https://l/x.png","isTempPass":false,"isProxy":"true","boardingStatus":"SUPPORTED"},{"id":"TempPass_TEST40","isTempPass":"true"},{"displayName":"no id"},7]}}')
put("pass_configuration", "top-level", '{"mvpds":[{"id":"X"}]}')
put("pass_configuration", "bad", '{"requestor":{"mvpds":{"id":"X"},"domains":"adobe.com"}}')

# ---------------------------------------------------------------- config_parse (CONTRACT 2)
put("config_parse", "contract", '''state_dir = "/var/lib/tvauth"
log_level = "debug"

[socket]
path = "/run/tvauth/tvauth.sock"
mode = 0o660
allowed_uids = [1000]
allowed_gids = []
max_connections = 32
line_timeout_secs = 10

[pass]
base_url = "https://sp.auth-staging.adobe.com/"
service_provider = "REF30"
software_statement = "eyJabc"
ca_file = ""
legacy_base_url = "https://api.auth.adobe.com"
domain_name = "adobe.com"
redirect_url = "https://adobe.com"
timeout_secs = 10
poll_interval_secs = 1
throttle_per_sec = 1
throttle_burst = 10

[device]
primary_hardware_type = "SetTopBox"
model = "X1"
manufacturer = "  Acme\\tCorp "
os_name = "Linux"
os_family = "Linux"
os_vendor = "Sony"
connection_type = "LAN"
application_id = "app"
''')
put("config_parse", "empty", "")
put("config_parse", "bad-values", 'log_level = "loud"\n[socket]\nmode = 0o7777\n[pass]\nbase_url = "http://x"\n')
put("config_parse", "unknown-key", '[pass]\nservice_provider = "REF30"\nsoftware_statment = "typo"\n')
put("config_parse", "dotted", 'pass.timeout_secs = 301\ndevice = { model = "\\u0000\\u001b[31m" }\n')
# At the nesting limit (8: accepted by the pre-check) and past it (refused before toml parses it).
put("config_parse", "nesting-8", "[socket]\nallowed_uids = " + "[" * 6 + "]" * 6 + "\n")
put("config_parse", "nesting-9", "[socket]\nallowed_uids = " + "[" * 7 + "]" * 7 + "\n")
put("config_parse", "secret-file", '[pass]\nsoftware_statement_file = "/nonexistent/statement.jwt"\n')

# ---------------------------------------------------------------- device_info (length-prefixed fields)
DEVICE_FILES = ["proc/device-tree/model", "proc/device-tree/compatible", "sys/class/dmi/id/sys_vendor",
                "sys/class/dmi/id/product_name", "sys/class/dmi/id/product_version", "etc/os-release",
                "proc/sys/kernel/osrelease", "proc/sys/kernel/hostname", "proc/cpuinfo", "proc/meminfo",
                "proc/net/route", "proc/device-tree/serial-number", "etc/machine-id"]
OVERRIDES = 11
def fields(parts):
    out = b""
    for p in parts:
        out += struct.pack("<H", len(p)) + p
    return out
def box(name):
    parts = []
    for rel in DEVICE_FILES:
        p = os.path.join(BOXES, name, rel)
        parts.append(open(p, "rb").read() if os.path.isfile(p) else b"")
    return parts
arm = box("arm-stb")
put("device_info", "arm-stb", fields(arm + [b""] * OVERRIDES + [b"\x01"]))
put("device_info", "x86-stb", fields(box("x86-stb") + [b""] * OVERRIDES + [b"\x00"]))
hostile = list(arm)
hostile[0] = b"\xff\xfeRaspberry\x00Pi\x1b[2J\x07 \xe2\x80\xae evil\xc0\x80" + b"A" * 300 + b"\x00"
hostile[1] = b"\x00,\xff\xff,\x00" + b"x," * 40
hostile[5] = b'ID="web\\OS"\nNAME=\'\x01\'\nVERSION_ID="\xf0\x9f\x98\x80 \xed\xa0\x80"\n=x\n'
hostile[6] = b"\xef\xbb\xbf6.1.0\n-evil"
hostile[8] = b"Model\t: " + b"\xc3" * 200 + b"\nHardware : \x85\xa0\n"
hostile[11] = b"00000000\x00"
overrides = [b"Toaster", b"\x7f\x80 M\tX ", b"", b"\xe2\x80\xa8v", b"", b"linux", b"", b"Debian", b"", b"5G\x00", b"\x1b]0;x\x07"]
put("device_info", "hostile", fields(hostile + overrides + [b"\x03"]))
huge = [b"\x00" * 5000, b"", b"V" * 4096, b"P" * 4097] + [b""] * (len(DEVICE_FILES) - 4)
put("device_info", "huge", fields(huge + [b"m" * 3000] + [b""] * (OVERRIDES - 1) + [b"\x02"]))
