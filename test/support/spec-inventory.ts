/**
 * SPEC 3.1's example inventory, verbatim: web-2's pinned key is elided (`SHA256:3mrfx…`) and its
 * jump names a `[host:bastion]` the example leaves out, so web-2's section is malformed.
 */
export const SPEC_INVENTORY = `[defaults]
transport = ssh
user = cloudiq
port = 22
identity = ~/.ssh/cloudiq_ed25519
known_hosts = ~/.ssh/known_hosts

[host:web-1]
address = 10.0.1.11
groups = edge, eu

[host:web-2]
address = 10.0.1.12
host_key = SHA256:3mrfx…                ; pinned fingerprint, instead of known_hosts
jump = bastion                          ; reach it through [host:bastion]

[host:worker-7]
transport = ssm
instance_id = i-0123456789abcdef0
groups = workers
`;
