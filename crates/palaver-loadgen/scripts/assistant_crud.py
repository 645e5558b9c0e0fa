"""Latency of the assistant's conversation CRUD against a running server (docs/benchmarks.md):
    python3 assistant_crud.py http://127.0.0.1:8080
needs `requests`. 1,000 conversations created, listed, renamed and read, 500 deleted,
one request at a time; prints p50/p99/max per operation."""
import sys, time, requests
base = sys.argv[1] + "/api/v1"
s = requests.Session()
tok = s.post(base + "/auth/register", json={"username": "bench", "email": "bench@example.com", "password": "correct horse"}).json()["access_token"]
h = {"Authorization": f"Bearer {tok}"}
times = {k: [] for k in ["create", "list", "rename", "messages", "delete"]}
ids = []
def timed(kind, f):
    t = time.perf_counter(); r = f(); times[kind].append((time.perf_counter() - t) * 1000); assert r.status_code < 300, (kind, r.status_code, r.text); return r
for i in range(1000):
    ids.append(timed("create", lambda: s.post(base + "/chat/conversations", json={"title": f"c{i}"}, headers=h)).json()["id"])
for i, c in enumerate(ids):
    timed("list", lambda: s.get(base + "/chat/conversations?limit=20&offset=" + str(i % 50), headers=h))
    timed("rename", lambda: s.patch(base + f"/chat/conversations/{c}/title", json={"title": f"r{i}"}, headers=h))
    timed("messages", lambda: s.get(base + f"/chat/conversations/{c}/messages", headers=h))
for c in ids[:500]:
    timed("delete", lambda: s.delete(base + f"/chat/conversations/{c}", headers=h))
for k, v in times.items():
    v.sort(); print(f"{k:9s} n={len(v):5d} p50={v[len(v)//2]:.2f} ms p99={v[int(len(v)*0.99)]:.2f} ms max={v[-1]:.2f} ms")
