"""The Lua scripts that make the Redis broker's compound operations atomic.

Redis runs a script to completion before serving any other command, so each script is
one indivisible step for every process sharing the server. Times come from the
server's own clock (`TIME`), so gateway processes with drifting clocks agree. Times and
durations are whole milliseconds: they stay exact as Lua numbers.
"""

from __future__ import annotations

from typing import Final

# Two steps as Lua functions: `throttle`, shared by two scripts, and `remember_counting`;
# each script is one of them (or both) plus the lines that call it.
#
# throttle(n): KEYS[1..n] the attempts against limit i (sorted set, score = attempt time
# in ms); ARGV[1] a unique member for this attempt, ARGV[2i] limit i, ARGV[2i+1] its
# window in ms -> allowed (0|1), remaining, retry after in ms, the refusing limit's i or 0.
# Every log is judged first and written only if all allow: a refused attempt counts
# nowhere. Of several refusing limits, the one freeing up last is reported.
_THROTTLE: Final = """
local function throttle(n)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local remaining = math.huge
  local refused, retry = 0, 0
  for i = 1, n do
    local key = KEYS[i]
    local limit = tonumber(ARGV[2 * i])
    local window = tonumber(ARGV[2 * i + 1])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local count = redis.call('ZCARD', key)
    if count < limit then
      remaining = math.min(remaining, limit - count - 1)
    else
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      local wait = tonumber(oldest[2]) + window - now
      if refused == 0 or wait > retry then
        refused, retry = i, wait
      end
    end
  end
  if refused > 0 then
    return 0, 0, retry, refused
  end
  for i = 1, n do
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
  end
  return 1, remaining, 0, 0
end
"""

# remember_counting(once, counter, ttl, window): set `once` unless it exists (for `ttl`
# ms) and count one more in `counter` (which expires `window` ms after its first count)
# -> 1 if remembered now (0 if it was already), the counter's new count
_REMEMBER_COUNTING: Final = """
local function remember_counting(once, counter, ttl, window)
  local first = redis.call('SET', once, '1', 'NX', 'PX', ttl)
  local count = redis.call('INCR', counter)
  if count == 1 then
    redis.call('PEXPIRE', counter, window)
  end
  if first then
    return 1, count
  end
  return 0, count
end
"""

# KEYS and ARGV as throttle(#KEYS) takes them
# -> {allowed (0|1), remaining, retry after in ms, the refusing limit's i or 0}
THROTTLE_ALL: Final = (
    _THROTTLE
    + """
return {throttle(#KEYS)}
"""
)

# KEYS[1] counter; ARGV[1] window in ms -> the new count
INCREMENT: Final = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""

# KEYS[1..n] the limits' logs, then the value to remember once and the counter;
# ARGV[1..2n+1] as throttle(n) takes them, then the ttl and the counter's window in ms
# -> {allowed, remaining, retry after in ms, refusing limit or 0, remembered now, count}
#
# Remembering and counting happen only when every limit allows (0, 0 otherwise): an
# attempt the limits refuse spends nothing.
THROTTLE_ALL_THEN_REMEMBER_ONCE_COUNTING: Final = (
    _THROTTLE
    + _REMEMBER_COUNTING
    + """
local n = #KEYS - 2
local allowed, remaining, retry, refused = throttle(n)
if allowed == 0 then
  return {0, 0, retry, refused, 0, 0}
end
local first, count = remember_counting(KEYS[n + 1], KEYS[n + 2], ARGV[2 * n + 2], ARGV[2 * n + 3])
return {1, remaining, 0, 0, first, count}
"""
)

# KEYS[1] session (hash), KEYS[2] the owner's session index (set of digests)
# ARGV[1] owner id, ARGV[2] idle ttl ms, ARGV[3] absolute ttl ms, ARGV[4] digest,
# ARGV[5] the key prefix of sessions (to prune the index), ARGV[6..] data name, value, ...
# -> 1, or 0 if the session id is already in use
#
# The index is pruned of sessions that expired on their own, so it stays as small as
# the owner's live sessions; it lives as long as the longest absolute deadline.
CREATE_SESSION: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local idle = tonumber(ARGV[2])
local absolute = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'deadline', now + absolute, 'idle', idle)
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'data:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], math.min(idle, absolute))
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[5] .. digest) == 0 then
    redis.call('SREM', KEYS[2], digest)
  end
end
redis.call('SADD', KEYS[2], ARGV[4])
if redis.call('PTTL', KEYS[2]) < absolute then
  redis.call('PEXPIRE', KEYS[2], absolute)
end
return 1
"""

# KEYS[1] session; ARGV[1] '1' to restart the idle clock
# -> false, or the hash's fields and values followed by 'remaining', ms to the deadline
#
# The key's own expiry is the idle clock, never set past the absolute deadline, so an
# idle session vanishes by itself; the deadline check guards the last millisecond.
GET_SESSION: Final = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end
local deadline, idle
for i = 1, #fields, 2 do
  if fields[i] == 'deadline' then
    deadline = tonumber(fields[i + 1])
  elseif fields[i] == 'idle' then
    idle = tonumber(fields[i + 1])
  end
end
if not deadline or not idle then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local remaining = deadline - now
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
if ARGV[1] == '1' then
  redis.call('PEXPIRE', KEYS[1], math.min(idle, remaining))
end
table.insert(fields, 'remaining')
table.insert(fields, tostring(remaining))
return fields
"""

# KEYS[1] session; ARGV[1] the key prefix of owner indexes, ARGV[2] digest -> 1 or 0
DELETE_SESSION: Final = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. owner, ARGV[2])
return 1
"""

# KEYS[1] the owner's session index; ARGV[1] the key prefix of sessions -> sessions ended
#
# One script, so a revocation and a concurrent login are ordered: the session either
# exists before the revocation (and ends) or is created after it.
DELETE_OWNER_SESSIONS: Final = """
local ended = 0
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', KEYS[1])
return ended
"""

# KEYS[1] due times (sorted set), KEYS[2] payloads (hash); ARGV[1] due at, ARGV[2] job id,
# ARGV[3] payload
SCHEDULE: Final = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS[1] due times, KEYS[2] payloads; ARGV[1] job id -> 1 if it was scheduled
CANCEL: Final = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return removed
"""

# KEYS[1] due times, KEYS[2] payloads; ARGV[1] now, ARGV[2] limit,
# ARGV[3] when to deliver again ('' to remove instead)
# -> job id, due at, payload, job id, due at, payload, ...
CLAIM_DUE: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local claimed = {}
for i = 1, #due, 2 do
  local job = due[i]
  local payload = redis.call('HGET', KEYS[2], job)
  if ARGV[3] == '' or not payload then
    redis.call('ZREM', KEYS[1], job)
    redis.call('HDEL', KEYS[2], job)
  else
    redis.call('ZADD', KEYS[1], ARGV[3], job)
  end
  if payload then
    table.insert(claimed, job)
    table.insert(claimed, due[i + 1])
    table.insert(claimed, payload)
  end
end
return claimed
"""

# KEYS[1] lock; ARGV[1] token -> 1 if released
RELEASE_LOCK: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock; ARGV[1] token, ARGV[2] ttl ms -> 1 if extended
EXTEND_LOCK: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
