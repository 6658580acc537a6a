-- Shared by the capacity scripts (start, enqueue, admit, release, positions, reap). Prepended
-- after transition_lib.lua, so PREFIX and NOW are the same upvalues and apply() is at hand.
-- Key names mirror domain/keys.py.

local function k_job(id) return PREFIX .. ':job:' .. id end
local function k_queue() return PREFIX .. ':queue' end
local function k_queue_user(uid) return PREFIX .. ':queue:user:' .. uid end
local function k_published() return PREFIX .. ':queue:published' end
local function k_live() return PREFIX .. ':live' end
local function k_scheduled() return PREFIX .. ':scheduled' end
local function k_scheduled_user(uid) return PREFIX .. ':scheduled:user:' .. uid end

-- Take a job out of the admission queue and its side indexes (admitted, or stale).
local function dequeue(job_id, user_id)
  redis.call('ZREM', k_queue(), job_id)
  if user_id then redis.call('SREM', k_queue_user(user_id), job_id) end
  redis.call('HDEL', k_published(), job_id)
end

-- A queue entry is stale once its job left QUEUED (cancelled, failed, vanished). Cancel paths
-- do not know the queue, so stale entries are dropped lazily wherever met. (A job holding a
-- slot is never in the queue: admission removes it in the same script, enqueue refuses it.)
local function waiting(h)
  return h[1] == 'queued'
end

-- Drop stale entries among the first `limit` of the queue (used before refusing a start).
local function prune_queue(limit)
  for _, id in ipairs(redis.call('ZRANGE', k_queue(), 0, limit - 1)) do
    local h = redis.call('HMGET', k_job(id), 'status', 'user_id')
    if not waiting(h) then dequeue(id, h[2]) end
  end
end

-- Put a QUEUED job in the admission queue. It goes ahead of the trailing waiting jobs whose
-- boost is lower than its own, at most `boost` of them, and never ahead of a job with the
-- same or a higher boost (FIFO within a tier). Order keys are integers: the new job takes the
-- frontmost jumped job's key and each jumped job shifts one key back, the last one taking a
-- fresh key, so keys never run out of precision however many jobs jump.
local function enqueue(job_id, user_id, boost)
  local q = k_queue()
  if redis.call('ZSCORE', q, job_id) or redis.call('ZSCORE', k_live(), job_id) then return end
  local jumped = {}  -- tail first: {id, key}
  local i, pruned = 0, 0
  while #jumped < boost do
    local m = redis.call('ZREVRANGE', q, i, i, 'WITHSCORES')
    if #m == 0 then break end
    local h = redis.call('HMGET', k_job(m[1]), 'status', 'user_id', 'queue_boost')
    if not waiting(h) then
      if pruned < 32 then dequeue(m[1], h[2]); pruned = pruned + 1 else i = i + 1 end
    elseif (tonumber(h[3]) or 0) >= boost then
      break
    else
      jumped[#jumped + 1] = {m[1], m[2]}
      i = i + 1
    end
  end
  local key = redis.call('INCR', PREFIX .. ':queue:seq')
  if #jumped > 0 then
    local front = jumped[#jumped][2]
    for j = #jumped, 2, -1 do redis.call('ZADD', q, jumped[j - 1][2], jumped[j][1]) end
    redis.call('ZADD', q, key, jumped[1][1])
    key = front
  end
  redis.call('ZADD', q, key, job_id)
  redis.call('SADD', k_queue_user(user_id), job_id)
  redis.call('HSET', k_job(job_id), 'queue_boost', boost)
end

-- Admission, atomic: walk the head of the queue in order and admit each waiting job while the
-- global cap has room and its user's and project's caps (by the job's tier) allow it. A job
-- held back by its own caps is skipped and keeps its place, so it never blocks other users.
-- The scan is bounded so admission stays cheap however long the queue is. `caps`: {tier:
-- [per_user, per_project]}. An admitted job stays QUEUED until its `starting` message enters
-- the stage; Capacity.stale_admissions() finds admissions whose message was lost.
-- Marks the slots: ZADD live (job -> admitted_at), SADD live:user, SADD live:project.
-- Returns a flat list {job_id, attempt, ...} of the jobs admitted now.
local function admit_waiting(cap, scan, caps, default_tier)
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
end

-- Record a finished build's duration for the queue's ETAs (newest first, `window` kept).
local function push_duration(seconds, window)
  local key = PREFIX .. ':build_durations'
  redis.call('LPUSH', key, seconds)
  redis.call('LTRIM', key, 0, window - 1)
end
