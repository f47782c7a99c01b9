-- Drop every expired connection; returns the JSON of each user whose last connection went.
return reap_expired()
