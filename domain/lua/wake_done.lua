-- A wake's app answers: record its sandbox and preview on the READY job (the status stays
-- READY), move the registry's expiry to the preview's, tell the event stream, free the slot
-- and drop the mark. Only while the mark is this wake's and the job READY.
-- KEYS: 1 job, 2 events, 3 wake mark, 4 live, 5 live_user, 6 live_project, 7 sandbox registry.
-- ARGV: 1 now, 2 maxlen, 3 wake id, 4 job id, 5 sandbox id, 6 expires_at, 7.. fields flat.
-- Returns {outcome, the job's sandbox before}: ok | stale | not_ready.
if redis.call('HGET', KEYS[3], 'wake_id') ~= ARGV[3] then return {'stale', ''} end
local member = 'wake:' .. ARGV[4]
redis.call('ZREM', KEYS[4], member)
redis.call('SREM', KEYS[5], member)
redis.call('SREM', KEYS[6], member)
redis.call('DEL', KEYS[3])
local h = redis.call('HMGET', KEYS[1], 'status', 'sandbox_id')
if h[1] ~= 'ready' then return {'not_ready', h[2] or ''} end
local set = {'sandbox_id', ARGV[5], 'sandbox_expires_at', ARGV[6], 'updated_at', ARGV[1],
             'woken_at', ARGV[1]}
for i = 7, #ARGV do set[#set + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(set))
redis.call('HINCRBY', KEYS[1], 'wakes', 1)
local record = redis.call('HGET', KEYS[7], ARGV[5])
if record then
  local data = cjson.decode(record)
  data.expires_at = tonumber(ARGV[6])
  redis.call('HSET', KEYS[7], ARGV[5], cjson.encode(data))
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', 'preview', 'event', 'woken',
           'at', ARGV[1], 'sandbox_expires_at', ARGV[6])
return {'ok', h[2] or ''}
