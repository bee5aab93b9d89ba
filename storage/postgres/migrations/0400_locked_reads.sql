-- What every group-commit batch does first, take a lock and then read, in
-- one round trip instead of two. Each statement of a VOLATILE PL/pgSQL
-- function runs with a new snapshot, so the read sees every transaction
-- that committed before the lock was granted (a single SELECT calling the
-- lock function would read with a snapshot taken before the wait).

-- consentforms_settings_for_write takes the settings lock shared (the
-- server passes its key; SaveSettings takes it exclusively) and returns
-- the settings' data: no row before the first save.
CREATE FUNCTION consentforms_settings_for_write(lock_key BIGINT) RETURNS SETOF TEXT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(lock_key);
    RETURN QUERY SELECT s.data FROM settings s WHERE s.id = 1;
END
$$;

-- consentforms_chain_head takes the chain lock (the server passes its key)
-- and returns the newest consent log entry's id, hash and time: no row
-- while the log is empty.
CREATE FUNCTION consentforms_chain_head(lock_key BIGINT)
RETURNS TABLE (id BIGINT, hash TEXT, "time" TEXT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY SELECT r.id, r.hash, r.time::TEXT FROM consent_records r ORDER BY r.id DESC LIMIT 1;
END
$$;
