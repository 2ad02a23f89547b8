"""Search small rings for sums a lying server can learn under the active model's localized check (SPEC "Threat models").

Not part of the test suite and not a library dependency: it needs the Z3 SMT
solver (``pip install z3-solver``) and minutes of CPU per case. It encodes the
client rules of R3/R4 (chapter "Protocol") over a Harary ring of ``m``
positions (position = id), and lets the solver pick everything the server
controls: which shares it forwards (``A(v)``), up to ``roots`` flag vectors,
which root each honest client is shown (and signs), and each R4 request's
``dropped`` list. An honest client reveals only as R4 allows: its own flag 1,
``live = flagged & A(v) | {v}`` of at least ``t``, ``dropped`` flagged 0 and in
``A(v)``, and for every owner it reveals a share of, at least ``t`` signers of
its root among that owner's holders (corrupted clients sign every root).
The server *learns the sum over a set L* of honest clients when it holds
``t`` shares of ``b_x`` for every ``x`` in L and, for every mask ``x`` added
with an honest neighbour ``w`` outside L, ``t`` shares of ``s_sk_w`` (or of
``s_sk_x``); masks inside L must be added on both sides. For each case the
script prints the smallest such L with fewer than ``t`` members, or "none".

Results on 2026-12-04 (a shared 2-core machine): no single honest input is
ever isolated; with no corrupted client no set below ``t`` is learnable for
``(m, k, t)`` = (12, 4, 3), (13, 4, 3), (14, 6, 4); with one corrupted client
and ``(14, 6, 5)`` the smallest is ``t - 1 = 4``.

Usage: ``python protocol_spec/tools/search_isolation.py``
"""
import sys
import time

try:
    import z3
except ImportError:  # pragma: no cover - a tool, not a test
    raise SystemExit("search_isolation.py needs the Z3 solver: pip install z3-solver")


def model(m, k, t, corrupted, nroots, check_cert=True, sym_required=False):
    h = k // 2
    ids = range(m)
    N = {v: sorted({(v + d) % m for d in range(-h, h + 1) if d != 0}) for v in ids}
    H = {v: sorted(set(N[v]) | {v}) for v in ids}
    honest = [v for v in ids if v not in corrupted]
    s = z3.Solver()
    B = z3.Bool
    A = {(v, w): B(f"A_{v}_{w}") for v in ids for w in N[v]}
    f = {(r, x): B(f"f_{r}_{x}") for r in range(nroots) for x in ids}
    rho = {(v, r): B(f"rho_{v}_{r}") for v in honest for r in range(nroots)}
    rev = {v: B(f"rev_{v}") for v in honest}
    drop = {(v, x): B(f"drop_{v}_{x}") for v in honest for x in N[v]}
    inL = {v: B(f"L_{v}") for v in honest}
    cnt = lambda bs: z3.Sum([z3.If(b, 1, 0) for b in bs]) if bs else z3.IntVal(0)
    for v in honest:
        s.add(z3.AtMost(*[rho[v, r] for r in range(nroots)], 1))
        signs = z3.Or([rho[v, r] for r in range(nroots)])
        s.add(z3.Implies(signs, cnt([A[v, w] for w in N[v]]) + 1 >= t))
        for r in range(nroots):
            s.add(z3.Implies(rho[v, r], f[r, v]))
        s.add(z3.Implies(rev[v], signs))
        for x in N[v]:
            s.add(z3.Implies(drop[v, x], A[v, x]))
            for r in range(nroots):
                s.add(z3.Implies(z3.And(drop[v, x], rho[v, r]), z3.Not(f[r, x])))
        for r in range(nroots):
            live = [z3.And(A[v, x], f[r, x]) for x in N[v]]
            s.add(z3.Implies(z3.And(rev[v], rho[v, r]), cnt(live) + 1 >= t))
            if not check_cert:
                continue
            for x in H[v]:
                sig = cnt([f[r, g] if g in corrupted else z3.And(rho[g, r], f[r, g]) for g in H[x]])
                revx = z3.BoolVal(True) if x == v else z3.Or(z3.And(A[v, x], f[r, x]), drop[v, x])
                s.add(z3.Implies(z3.And(rev[v], rho[v, r], revx), sig >= t))
    nc = lambda x: sum(1 for v in H[x] if v in corrupted)
    def b_ok(x):
        hon = [rev[v] if v == x else z3.And(rev[v], A[v, x], z3.Or([z3.And(rho[v, r], f[r, x]) for r in range(nroots)]))
               for v in H[x] if v not in corrupted]
        return cnt(hon) + nc(x) >= t
    def s_ok(x):
        return cnt([z3.And(rev[v], drop[v, x]) for v in N[x] if v not in corrupted]) + nc(x) >= t
    for u in honest:
        cond = [cnt([A[u, w] for w in N[u]]) + 1 >= t, b_ok(u)]
        for w in N[u]:
            if w in corrupted:
                continue
            cond.append(z3.Implies(A[u, w], z3.Or(s_ok(w), s_ok(u),
                z3.And(inL[w], A[w, u]))))
        s.add(z3.Implies(inL[u], z3.And(cond)))
    return s, inL, (A, f, rho, rev, drop, honest, N)

def minL(m, k, t, corrupted, nroots, lmax, **kw):
    s, inL, rest = model(m, k, t, corrupted, nroots, **kw)
    cnt = z3.Sum([z3.If(b, 1, 0) for b in inL.values()])
    s.add(cnt >= 1)
    for size in range(1, lmax + 1):
        s.push(); s.add(cnt == size)
        r = s.check()
        if r == z3.sat:
            mdl = s.model()
            L = [v for v, b in inL.items() if z3.is_true(mdl.eval(b))]
            s.pop()
            return size, L
        s.pop()
    return None, None

CASES = [  # (m, k, t, corrupted ids, roots); every case meets rule 2b with a = the most corrupted holders
    (12, 4, 3, set(), 3),
    (13, 4, 3, set(), 4),
    (14, 6, 4, set(), 3),
    (14, 6, 5, {3}, 3),
    (14, 6, 5, {1}, 3),
]


def main() -> int:
    for m, k, t, corrupted, roots in CASES:
        t0 = time.time()
        size, group = minL(m, k, t, corrupted, roots, lmax=t - 1)
        found = "none" if size is None else f"{size} {group}"
        print(f"m={m} k={k} t={t} corrupted={sorted(corrupted)} roots={roots}: smallest L below t: {found} "
              f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
