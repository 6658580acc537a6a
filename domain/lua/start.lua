-- A new build, decided and written in one step: count it against the first UTC day whose
-- quota has room (today -> QUEUED; a later day -> SCHEDULED for that day's midnight, never
-- refused), refuse a QUEUED start when the queue is full, create the job record and put it in
-- the admission queue or the scheduled index. Nothing is written when refused.
-- KEYS: job hash, event stream. ARGV: prefix, now, maxlen, job_id, user_id, project_id,
-- boost, daily_limit, queue_cap, prune_limit, days JSON [[day, day_start], ...] (today first),
-- record JSON flat [k1, v1, ...] (without status).
-- Returns {'full'} or {status, scheduled_for ('' when queued)}.
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
local job, events = KEYS[1], KEYS[2]
local job_id, user_id, project_id = ARGV[4], ARGV[5], ARGV[6]
local boost, daily = tonumber(ARGV[7]), tonumber(ARGV[8])
local queue_cap, prune_limit = tonumber(ARGV[9]), tonumber(ARGV[10])
local days, record = cjson.decode(ARGV[11]), cjson.decode(ARGV[12])

local function quota_key(day) return PREFIX .. ':quota:' .. user_id .. ':' .. day end

local pick = #days
for i = 1, #days do
  if tonumber(redis.call('GET', quota_key(days[i][1])) or '0') < daily then pick = i; break end
end
local status = (pick == 1) and 'queued' or 'scheduled'
if status == 'queued' and redis.call('ZCARD', k_queue()) >= queue_cap then
  prune_queue(prune_limit)
  if redis.call('ZCARD', k_queue()) >= queue_cap then return {'full'} end
end

local qk = quota_key(days[pick][1])
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
redis.call('ZADD', PREFIX .. ':project:' .. project_id .. ':jobs', NOW, job_id)
redis.call('ZADD', PREFIX .. ':user:' .. user_id .. ':jobs', NOW, job_id)
if status == 'queued' then
  enqueue(job_id, user_id, boost)
else
  redis.call('ZADD', k_scheduled(), scheduled_for, job_id)
  redis.call('SADD', k_scheduled_user(user_id), job_id)
end
return {status, scheduled_for}
