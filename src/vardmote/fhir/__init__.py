"""FHIR: journal systems book "Digitalt vårdmöte" as FHIR R4 Appointments (``/fhir/r4``).

A journal system (e.g. Cosmic), authenticated as a :mod:`vardmote.clients` client, books, reads,
finds, moves and cancels Appointments; each booked Appointment is a ``digitalt_vardmote``
meeting hosted by the clinician it names by HSA-id, with the patient's inbox message. Resources
are read and written with the FHIR model library (``fhir.resources``, its R4B models, which
match R4 for everything used here), never as hand-made JSON.

Modules: ``identifiers`` (personnummer, samordningsnummer and HSA-id systems, pure),
``appointments`` (Appointment ⇄ booking, pure), ``search`` (the search parameters, pure),
``capability`` (the CapabilityStatement, pure), ``outcome`` (errors as OperationOutcome),
``models`` (the Appointment ⇄ meeting table) and ``service`` (the calls, in one transaction
each). The routes are :mod:`vardmote.web.fhir_api`; docs/fhir.md is for the integrators.

Errors: every refusal is a :class:`~vardmote.fhir.outcome.FhirError` (status, issue type,
Swedish and English text); service-layer errors (:class:`~vardmote.errors.VardmoteError`,
e.g. the bearer check's ``ClientUnauthenticated`` 401 and ``ScopeMissing`` 403) are turned
into one by :func:`~vardmote.fhir.outcome.from_vardmote_error`.
"""
