"""UserService's domain errors, with the reasons its proto documents; no grpc here."""

from __future__ import annotations

from estore.common import errors


class StoreUnavailable(errors.Unavailable):
    """PostgreSQL cannot be reached; the client should retry with backoff."""

    reason = "STORE_UNAVAILABLE"

    def __init__(self, message: str = "the user database is unavailable; retry later") -> None:
        super().__init__(message)


class EmailAlreadyExists(errors.AlreadyExists):
    """Another account has this email, compared case-insensitively."""

    reason = "EMAIL_ALREADY_EXISTS"

    def __init__(self, message: str = "an account with this email already exists") -> None:
        super().__init__(message)


class UserNotFound(errors.NotFound):
    """No such user, or one the caller may not see."""

    reason = "USER_NOT_FOUND"

    def __init__(self, message: str = "no such user") -> None:
        super().__init__(message)


class VerificationTokenNotFound(errors.NotFound):
    """The verification token is unknown or was already used."""

    reason = "VERIFICATION_TOKEN_NOT_FOUND"

    def __init__(self, message: str = "unknown or already used verification token") -> None:
        super().__init__(message)


class VerificationTokenExpired(errors.FailedPrecondition):
    """The verification token is past its expiry; ask for a new one."""

    reason = "VERIFICATION_TOKEN_EXPIRED"

    def __init__(self, message: str = "the verification token has expired") -> None:
        super().__init__(message)


class ResetTokenNotFound(errors.NotFound):
    """The password-reset token is unknown or was already used."""

    reason = "RESET_TOKEN_NOT_FOUND"

    def __init__(self, message: str = "unknown or already used reset token") -> None:
        super().__init__(message)


class ResetTokenExpired(errors.FailedPrecondition):
    """The password-reset token is past its expiry; ask for a new one."""

    reason = "RESET_TOKEN_EXPIRED"

    def __init__(self, message: str = "the reset token has expired") -> None:
        super().__init__(message)


class InvalidCredentials(errors.Unauthenticated):
    """Unknown email or wrong password: deliberately the same error for both."""

    reason = "INVALID_CREDENTIALS"

    def __init__(self, message: str = "wrong email or password") -> None:
        super().__init__(message)


class UserInactive(errors.PermissionDenied):
    """The account was deactivated by an admin."""

    reason = "USER_INACTIVE"

    def __init__(self, message: str = "this account is deactivated") -> None:
        super().__init__(message)


class TooManyLoginAttempts(errors.ResourceExhausted):
    """Too many failed sign-ins for one email lately."""

    reason = "TOO_MANY_LOGIN_ATTEMPTS"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"too many failed sign-ins; retry in {retry_after_seconds} s",
            retry_after_seconds=retry_after_seconds,
        )


class InvalidCurrentPassword(errors.PermissionDenied):
    """ChangePassword's current password is wrong."""

    reason = "INVALID_CURRENT_PASSWORD"

    def __init__(self, message: str = "the current password is wrong") -> None:
        super().__init__(message)


class AdminRequired(errors.PermissionDenied):
    """The caller is signed in but is not (or no longer) an admin."""

    reason = "ADMIN_REQUIRED"

    def __init__(self, message: str = "this needs an admin") -> None:
        super().__init__(message)


class RefreshTokenInvalid(errors.Unauthenticated):
    """The refresh token is unknown."""

    reason = "REFRESH_TOKEN_INVALID"

    def __init__(self, message: str = "unknown refresh token; sign in again") -> None:
        super().__init__(message)


class RefreshTokenExpired(errors.Unauthenticated):
    """The refresh token is past its expiry."""

    reason = "REFRESH_TOKEN_EXPIRED"

    def __init__(self, message: str = "the refresh token has expired; sign in again") -> None:
        super().__init__(message)


class RefreshTokenRevoked(errors.Unauthenticated):
    """The refresh token was used already, or its session has ended."""

    reason = "REFRESH_TOKEN_REVOKED"

    def __init__(
        self, message: str = "the refresh token was used already or revoked; sign in again"
    ) -> None:
        super().__init__(message)
