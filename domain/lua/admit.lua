-- Admit waiting jobs (admit_waiting in capacity_lib.lua). ARGV: prefix, now, global_cap,
-- scan_limit, caps JSON {tier: [per_user, per_project]}, default_tier.
PREFIX, NOW = ARGV[1], ARGV[2]
return admit_waiting(tonumber(ARGV[3]), tonumber(ARGV[4]), cjson.decode(ARGV[5]), ARGV[6])
