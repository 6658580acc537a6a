-- Admit waiting jobs (admit_waiting in capacity_lib.lua). KEYS: capacity_keys(1).
-- ARGV: now, global_cap, scan_limit, caps JSON {tier: [per_user, per_project]}, default_tier.
NOW = ARGV[1]
capacity_keys(1)
return admit_waiting(tonumber(ARGV[2]), tonumber(ARGV[3]), cjson.decode(ARGV[4]), ARGV[5])
