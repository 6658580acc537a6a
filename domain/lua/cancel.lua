-- A user's cancel (Capacity.cancel): the store's cancel (the flag and FAILED in one step,
-- refused once terminal) and, for a build that never started (its first attempt, still queued
-- or scheduled), its unit of the daily quota back, on the day it was counted against. A job
-- cancelled after it started keeps its unit: its sandbox and model calls were spent.
-- KEYS: the job's state keys (state_keys, all ten), 11 the counted day's quota counter,
-- 12 scheduled index, 13 the user's scheduled set. ARGV: now, maxlen, stage_deadline, job_id,
-- field pairs... Returns {'missing'}, {'illegal', status} or
-- {'ok', previous, event_id, refunded (0/1)}.
NOW, MAXLEN = ARGV[1], ARGV[2]
local k = state_keys(1)
local job_id = ARGV[4]
local h = redis.call('HMGET', k.job, 'status', 'attempt')
if not h[1] then return {'missing'} end
if not allowed(h[1], 'failed') then return {'illegal', h[1]} end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('SET', k.cancel, '1', 'EX', 604800)
local id = apply(k, job_id, h[1], 'failed', fields)
local refunded = 0
-- A replay (attempt 2+) was never counted; a counter already gone has nothing to give back.
if (h[1] == 'queued' or h[1] == 'scheduled') and (h[2] or '1') == '1'
    and tonumber(redis.call('GET', KEYS[11]) or '0') > 0 then
  redis.call('DECR', KEYS[11])
  refunded = 1
end
if h[1] == 'scheduled' then
  redis.call('ZREM', KEYS[12], job_id)
  redis.call('SREM', KEYS[13], job_id)
end
return {'ok', h[1], id, refunded}
