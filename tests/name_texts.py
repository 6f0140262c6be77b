"""What a guest is told when their name is refused, word for word (rooms/names.py says it): one
copy for the room, protocol and browser tests."""

INVISIBLE = (
    "Namnet innehåller tecken som inte syns, till exempel osynliga mellanrum eller tecken som "
    "vänder skrivriktningen. Skriv ditt namn med vanliga bokstäver."
)
LOOKS_LIKE_ROLE = (
    "Namnet får inte se ut som en roll i mötet, till exempel ”mötesorganisatör”, ”värd” eller "
    "”vårdpersonal”. Skriv bara ditt namn."
)
