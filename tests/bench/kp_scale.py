#!/usr/bin/python3
"""Write a kube-proxy (v1.35 layout) nftables ruleset with N Services of E
endpoints each, for scale benchmarks: usage kp_scale.py N E > file.nft.
Each Service gets a service chain picking an endpoint chain by numgen,
each endpoint chain a masquerade jump and a DNAT, plus its service-ips
element; the fixed chains follow tests' v135 fixture."""
import hashlib
import sys

n, e = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.write


def h(s):
    return hashlib.sha256(s.encode()).hexdigest()[:8].upper()


out("""table ip kube-proxy {
	comment "rules for kube-proxy"
	chain mark-for-masquerade { mark set mark or 0x4000; }
	chain masquerading { meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade fully-random; }
	chain services { }
	chain nat-prerouting { type nat hook prerouting priority -100; jump services; }
	chain nat-output { type nat hook output priority -100; jump services; }
	chain nat-postrouting { type nat hook postrouting priority 100; jump masquerading; }
	map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
}
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
""")
for s in range(n):
    ns, svc = f"ns{s % 100}", f"svc{s}"
    sname = f"service-{h(svc)}-{ns}/{svc}/tcp/p80"
    vip = f"172.{16 + s // 65536}.{(s // 256) % 256}.{s % 256}"
    eps = []
    for k in range(e):
        ip = f"10.{(s // 250) % 250}.{s % 250}.{k + 1}"
        ename = f"endpoint-{h(svc + ip)}-{ns}/{svc}/tcp/p80__{ip}/80"
        eps.append(ename)
        out(f'add chain ip kube-proxy {ename}\n')
        out(f'add rule ip kube-proxy {ename} ip saddr {ip} jump mark-for-masquerade\n')
        out(f'add rule ip kube-proxy {ename} meta l4proto tcp dnat to {ip}:80\n')
    out(f'add chain ip kube-proxy {sname}\n')
    vm = ", ".join(f'{k} : goto {x}' for k, x in enumerate(eps))
    out(f'add rule ip kube-proxy {sname} numgen random mod {e} vmap {{ {vm} }}\n')
    out(f'add element ip kube-proxy service-ips {{ {vip} . tcp . 80 : goto {sname} }}\n')
