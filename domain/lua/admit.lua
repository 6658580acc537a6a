-- Admission, atomic: walk the head of the queue in order and admit each waiting job while the
-- global cap has room and its user's and project's caps (by the job's tier) allow it. A job
-- held back by its own caps is skipped and keeps its place, so it never blocks other users.
-- The scan is bounded so admission stays cheap however long the queue is.
-- ARGV: prefix, now, global_cap, scan_limit, caps JSON {tier: [per_user, per_project]},
-- default_tier. An admitted job stays QUEUED until its `starting` message enters the stage;
-- Capacity.stale_admissions() finds admissions whose message was lost.
-- Marks the slots: ZADD live (job -> admitted_at), SADD live:user, SADD live:project.
-- Returns a flat list {job_id, attempt, ...} of the jobs admitted now.
PREFIX, NOW = ARGV[1], ARGV[2]
local cap, scan = tonumber(ARGV[3]), tonumber(ARGV[4])
local caps, default_tier = cjson.decode(ARGV[5]), ARGV[6]
local live = k_live()
local n = redis.call('ZCARD', live)
if n >= cap then return {} end
local out, users, projects = {}, {}, {}
for _, id in ipairs(redis.call('ZRANGE', k_queue(), 0, scan - 1)) do
  if n >= cap then break end
  local h = redis.call('HMGET', k_job(id), 'status', 'user_id', 'project_id', 'tier', 'attempt')
  if not waiting(h) then
    dequeue(id, h[2])
  else
    local uid, pid = h[2], h[3]
    local limit = caps[h[4]] or caps[default_tier]
    local lu, lp = PREFIX .. ':live:user:' .. uid, PREFIX .. ':live:project:' .. pid
    local u = users[uid] or redis.call('SCARD', lu)
    local p = projects[pid] or redis.call('SCARD', lp)
    if u < limit[1] and p < limit[2] then
      redis.call('ZADD', live, NOW, id)
      redis.call('SADD', lu, id)
      redis.call('SADD', lp, id)
      redis.call('HSET', k_job(id), 'admitted_at', NOW)
      dequeue(id, uid)
      u, p, n = u + 1, p + 1, n + 1
      out[#out + 1] = id; out[#out + 1] = h[5] or '1'
    end
    users[uid], projects[pid] = u, p
  end
end
return out
