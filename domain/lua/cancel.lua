-- A user's cancel (Capacity.cancel): the store's cancel (the flag and FAILED in one step,
-- refused once terminal) and, for a build that never started (its first attempt, still queued
-- or scheduled), its unit of the daily quota back, on the day it was counted against. A job
-- cancelled after it started keeps its unit: its sandbox and model calls were spent.
-- KEYS: job hash, event stream, cancel flag, the counted day's quota counter, scheduled index,
-- the user's scheduled set. ARGV: prefix, now, maxlen, stage_deadline, job_id, field pairs...
-- Returns {'missing'}, {'illegal', status} or {'ok', previous, event_id, refunded (0/1)}.
PREFIX, NOW, MAXLEN = ARGV[1], ARGV[2], ARGV[3]
local job_id = ARGV[5]
local h = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if not h[1] then return {'missing'} end
if not allowed(h[1], 'failed') then return {'illegal', h[1]} end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('SET', KEYS[3], '1', 'EX', 604800)
local id = apply(KEYS[1], KEYS[2], job_id, h[1], 'failed', fields)
local refunded = 0
-- A replay (attempt 2+) was never counted; a counter already gone has nothing to give back.
if (h[1] == 'queued' or h[1] == 'scheduled') and (h[2] or '1') == '1'
    and tonumber(redis.call('GET', KEYS[4]) or '0') > 0 then
  redis.call('DECR', KEYS[4])
  refunded = 1
end
if h[1] == 'scheduled' then
  redis.call('ZREM', KEYS[5], job_id)
  redis.call('SREM', KEYS[6], job_id)
end
return {'ok', h[1], id, refunded}
