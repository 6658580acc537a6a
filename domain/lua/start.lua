-- A new build, decided and written in one step: count it against the first UTC day whose
-- quota has room (today -> QUEUED; a later day -> SCHEDULED for that day's midnight, never
-- refused), refuse a QUEUED start when the queue is full, create the job record and put it in
-- the admission queue or the scheduled index. Nothing is written when refused.
-- KEYS: 1 job hash, 2 event stream, 3 the project's jobs, 4 the user's jobs, 5 the user's
-- queue set, 6 the user's scheduled set, capacity_keys(7), then the user's quota counter of
-- each day in `days` (KEYS[12 + i] for days[i]).
-- ARGV: now, maxlen, job_id, boost, daily_limit, queue_cap, prune_limit, days JSON
-- [[day, day_start], ...] (today first), record JSON flat [k1, v1, ...] (without status).
-- Returns {'full'} or {status, scheduled_for ('' when queued)}.
NOW, MAXLEN = ARGV[1], ARGV[2]
capacity_keys(7)
local job, events = KEYS[1], KEYS[2]
local job_id, boost, daily = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local queue_cap, prune_limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local days, record = cjson.decode(ARGV[8]), cjson.decode(ARGV[9])

local pick = #days
for i = 1, #days do
  if tonumber(redis.call('GET', KEYS[12 + i]) or '0') < daily then pick = i; break end
end
local status = (pick == 1) and 'queued' or 'scheduled'
if status == 'queued' and redis.call('ZCARD', CK.queue) >= queue_cap then
  prune_queue(prune_limit)
  if redis.call('ZCARD', CK.queue) >= queue_cap then return {'full'} end
end

local qk = KEYS[12 + pick]
redis.call('INCR', qk)
-- Kept until an hour past its day's end. A relative TTL from the injectable clock, so Redis's
-- own clock (and a test's fixed one) cannot disagree about when the day is over.
local ttl = math.floor(tonumber(days[pick][2]) + 86400 + 3600 - tonumber(NOW))
redis.call('EXPIRE', qk, math.max(ttl, 1))

local scheduled_for = ''
record[#record + 1] = 'status'; record[#record + 1] = status
record[#record + 1] = status .. '_at'; record[#record + 1] = NOW
local ev = {'type', 'status', 'status', status, 'from', '', 'at', NOW}
if status == 'scheduled' then
  scheduled_for = tostring(days[pick][2])
  record[#record + 1] = 'scheduled_for'; record[#record + 1] = scheduled_for
  ev[#ev + 1] = 'scheduled_for'; ev[#ev + 1] = scheduled_for
end
redis.call('HSET', job, unpack(record))
redis.call('XADD', events, 'MAXLEN', '~', MAXLEN, '*', unpack(ev))
redis.call('ZADD', KEYS[3], NOW, job_id)
redis.call('ZADD', KEYS[4], NOW, job_id)
if status == 'queued' then
  enqueue(job_id, job, KEYS[5], boost)
else
  redis.call('ZADD', CK.scheduled, scheduled_for, job_id)
  redis.call('SADD', KEYS[6], job_id)
end
return {status, scheduled_for}
