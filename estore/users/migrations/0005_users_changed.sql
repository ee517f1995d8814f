-- Every change to an account is announced at commit on the channel `estore_users_changed`
-- (payload: the account's id; '*' for a TRUNCATE): each UserService process keeps the accounts
-- it reads by id, and drops one when it hears of its change (estore/users/user_cache.py).

CREATE FUNCTION estore_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('estore_users_changed', '*');
    ELSE
        PERFORM pg_notify('estore_users_changed', OLD.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION estore_users_changed();

CREATE TRIGGER users_truncated AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION estore_users_changed();
