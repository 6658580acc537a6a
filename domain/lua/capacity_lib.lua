-- Shared by the capacity scripts (start, enqueue, admit, release, positions, reap, and the
-- READY hand-off). Prepended after transition_lib.lua, so NOW is the same upvalue and apply()
-- is at hand; NAMES is prepended by domain/capacity.py (capacity_prelude).
--
-- Keys: the shared ones come in KEYS (capacity_keys). The others are named by ids these
-- scripts read from data (a queue entry's job, that job's user and project): no caller can
-- declare them before the script has read the ids. `named` builds them from the shapes
-- domain/keys.py gives (Keys.names); it is the one place a script names a key itself
-- (docs/operations.md, "Redis layout").

local CK  -- set by capacity_keys()

-- The shared keys from KEYS[first] on, in Keys.capacity's order.
local function capacity_keys(first)
  CK = {queue = KEYS[first], seq = KEYS[first + 1], published = KEYS[first + 2],
        live = KEYS[first + 3], scheduled = KEYS[first + 4], durations = KEYS[first + 5]}
end

local function named(kind, id)
  local shape = NAMES[kind]
  return shape[1] .. id .. shape[2]
end

-- Take a job out of the admission queue and its side indexes (admitted, or stale).
local function dequeue(job_id, user_id)
  redis.call('ZREM', CK.queue, job_id)
  if user_id then redis.call('SREM', named('queue_user', user_id), job_id) end
  redis.call('HDEL', CK.published, job_id)
end

-- A queue entry is stale once its job left QUEUED (cancelled, failed, vanished). Cancel paths
-- do not know the queue, so stale entries are dropped lazily wherever met. (A job holding a
-- slot is never in the queue: admission removes it in the same script, enqueue refuses it.)
local function waiting(h)
  return h[1] == 'queued'
end

-- Drop stale entries among the first `limit` of the queue (used before refusing a start).
local function prune_queue(limit)
  for _, id in ipairs(redis.call('ZRANGE', CK.queue, 0, limit - 1)) do
    local h = redis.call('HMGET', named('job', id), 'status', 'user_id')
    if not waiting(h) then dequeue(id, h[2]) end
  end
end

-- Put a QUEUED job in the admission queue (`job`: its hash, `queue_user`: its user's set).
-- It goes ahead of the trailing waiting jobs whose boost is lower than its own, at most
-- `boost` of them, and never ahead of a job with the same or a higher boost (FIFO within a
-- tier). Order keys are integers: the new job takes the frontmost jumped job's key and each
-- jumped job shifts one key back, the last one taking a fresh key, so keys never run out of
-- precision however many jobs jump.
local function enqueue(job_id, job, queue_user, boost)
  local q = CK.queue
  if redis.call('ZSCORE', q, job_id) or redis.call('ZSCORE', CK.live, job_id) then return end
  local jumped = {}  -- tail first: {id, key}
  local i, pruned = 0, 0
  while #jumped < boost do
    local m = redis.call('ZREVRANGE', q, i, i, 'WITHSCORES')
    if #m == 0 then break end
    local h = redis.call('HMGET', named('job', m[1]), 'status', 'user_id', 'queue_boost')
    if not waiting(h) then
      if pruned < 32 then dequeue(m[1], h[2]); pruned = pruned + 1 else i = i + 1 end
    elseif (tonumber(h[3]) or 0) >= boost then
      break
    else
      jumped[#jumped + 1] = {m[1], m[2]}
      i = i + 1
    end
  end
  local key = redis.call('INCR', CK.seq)
  if #jumped > 0 then
    local front = jumped[#jumped][2]
    for j = #jumped, 2, -1 do redis.call('ZADD', q, jumped[j - 1][2], jumped[j][1]) end
    redis.call('ZADD', q, key, jumped[1][1])
    key = front
  end
  redis.call('ZADD', q, key, job_id)
  redis.call('SADD', queue_user, job_id)
  redis.call('HSET', job, 'queue_boost', boost)
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
  local live = CK.live
  local n = redis.call('ZCARD', live)
  if n >= cap then return {} end
  local out, users, projects = {}, {}, {}
  for _, id in ipairs(redis.call('ZRANGE', CK.queue, 0, scan - 1)) do
    if n >= cap then break end
    local job = named('job', id)
    local h = redis.call('HMGET', job, 'status', 'user_id', 'project_id', 'tier', 'attempt')
    if not waiting(h) then
      dequeue(id, h[2])
    else
      local uid, pid = h[2], h[3]
      local limit = caps[h[4]] or caps[default_tier]
      local lu, lp = named('live_user', uid), named('live_project', pid)
      local u = users[uid] or redis.call('SCARD', lu)
      local p = projects[pid] or redis.call('SCARD', lp)
      if u < limit[1] and p < limit[2] then
        redis.call('ZADD', live, NOW, id)
        redis.call('SADD', lu, id)
        redis.call('SADD', lp, id)
        redis.call('HSET', job, 'admitted_at', NOW)
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
  redis.call('LPUSH', CK.durations, seconds)
  redis.call('LTRIM', CK.durations, 0, window - 1)
end
