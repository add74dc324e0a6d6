"""Names the dead-code check (`make lint`) cannot see being used: a framework calls them by name, a
decorator registers them, or a value read off the wire or the roster reaches them. Each entry says
which. The tests are read as users too (the simulator's fault injection is there for them), but are
not themselves checked. Vulture matches by name, so an entry covers the name wherever it is defined.

Not a module anyone imports. It is type-checked with the packages (`make typecheck`), so an entry
whose target was renamed or removed fails there instead of silently whitelisting nothing.
"""

import tarfile
from typing import Any

import usb.core

from cabinetcloud import app, repair_api
from cabinetcloud.admin import (
    app_packages,
    audit_log,
    cabinets,
    commands,
    deliveries,
    device_models,
    devices,
    endpoints,
    fleet_shapes,
    fleet_views,
    histories,
    login,
    models,
    operator_accounts,
    release_shapes,
    releases,
    staff,
    store_notices,
    stores,
    work_types,
)
from cabinetcloud.apppackages import download as app_package_download
from cabinetcloud.dashboard import fleetpages, language, outbound, pages, signin
from cabinetcloud.dashboard import releases as release_pages
from cabinetcloud.outbox import dingtalk as outbox_dingtalk
from cabinetcloud.outbox import messages as outbox_messages
from cabinetcloud.outbox import netguard
from cabinetcloud.projections import shapes as view_shapes
from cabinetcloud.schema import UtcDateTime
from cabinetd.api.control import shapes
from cabinetd.api.server import EmbeddedServer
from cabinetd.clock import ManualClock
from cabinetd.config import UpdatesSection
from cabinetd.fsm.slot import ClockTimeout, Slot
from cabinetd.hal import agentprotocol
from cabinetd.ledger import projections
from cabinetd.ledger.ledger import Ledger
from cabinetd.ledger.queries import SlotRow
from cabinetd.ledger.replicas import StaffMember
from cabinetd.logbuffer import Kept
from cabinetd.policy import Role
from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.views import Session
from cabinetproto import events, package_events, update_events, wire
from cabinetproto.enums import DeviceHealth

__all__ = ["USED_BY_NAME", "instance_attributes", "registered_inside_functions"]

USED_BY_NAME: list[object] = [
    # pydantic reads a model's configuration from this class attribute.
    wire.WireModel.model_config,
    # transitions calls these by the names the table and build_machine give as strings.
    Slot.has_device,  # the condition of the "enable" rows of TRANSITIONS
    Slot._door_timed_out,  # on_timeout of the dispensing and receiving states
    ClockTimeout.create_timer,  # AsyncTimeout's hook that starts a state's timer
    # `cabinet-cloud serve` names the app factory to uvicorn as a string, for each worker to import.
    app.app_from_environment,
    # uvicorn's serve loop calls these overrides of its Server.
    EmbeddedServer.capture_signals,
    EmbeddedServer.main_loop,
    # The clock the tests move by hand (DESIGN §4: timers on a clock the tests control).
    ManualClock,
    ManualClock.advance,
    # Projections are registered with @projects(EventType); the ledger calls them for each event.
    projections.slot_state_changed,
    projections.dispense_started,
    projections.alarm_raised,
    projections.alarm_cleared,
    projections.device_status,
    projections.device_provisioned,
    projections.device_rented,
    projections.device_returned,
    projections.rental_cancelled,
    projections.rental_due_soon,
    projections.rental_overdue,
    projections.command_result,
    projections.ledger_incident,
    projections.incident_cleared,
    # Event payloads are registered with @declare("type") and validated by their event type.
    events.CabinetStarted,
    events.RepairTicketOpened,
    events.ProvisioningFailed,
    events.DispenseCancelled,
    events.ReturnStarted,
    events.ReturnCancelled,
    events.RentRefused,
    events.TriggerRefused,
    events.TechnicianAction,
    events.ReconciliationDifference,
    events.StepRefused,
    events.SlotStuck,
    events.ProblemReported,
    update_events.UpdateOffered,
    update_events.UpdateDownloaded,
    update_events.UpdateRefused,
    update_events.UpdateInstalling,
    update_events.UpdateInstalled,
    update_events.UpdateRolledBack,
    update_events.UpdateInstalled.from_version,
    update_events.UpdateRolledBack.to_version,
    update_events.UpdateOffered.allow_downgrade,
    package_events.AppPackageCached,
    package_events.AppPackageRefused,
    package_events.AppPackageRemoved,
    # Payload and wire fields are validated and sent whether or not the cabinet reads them back.
    events.SlotStateChanged.from_,  # the payload's "from" (a keyword in Python, hence the alias)
    events.RepairTicketOpened.ticket_id,
    events.SlotStuck.bound_s,
    wire.SessionReply.acked_hash,
    # A replica's fields are its table's columns: the staff lookup queries badge_key in SQL.
    StaffMember.badge_key,
    # Members reached by value: Role(staff.role) from the roster, DeviceHealth(...) from payloads.
    Role.TECHNICIAN,
    Role.MANAGER,
    DeviceHealth.GOOD,
    DeviceHealth.DEGRADED,
    # The ledger's own checks and technician actions (docs/ledger.md): rebuild() recomputes the
    # projections from the events (the crash and fork tests compare the two); clear_incident() lifts
    # an incident's block on renting.
    Ledger.rebuild,
    Ledger.clear_incident,
    # pydantic runs model validators it finds on the class.
    agentprotocol.ProvisionArgs._home_app_is_listed,
    agentprotocol.Reply._carries_what_status_says,
    # Fields of the device protocol's replies (docs/device-protocol.md): validated as the agent sends
    # them and kept in the ledger's usage and self-test evidence.
    agentprotocol.UsageReport.until_ms,
    agentprotocol.SessionEnded.signed_out,
    # A field of the kiosk's document (docs/kiosk.md): the page reads it from the JSON.
    Session.work_type_names,
    # Fields of the control socket's answers (docs/cabinetctl.md): cabinetctl prints them as JSON.
    shapes.Status.uptime_s,
    shapes.Versions.cabinetd,
    shapes.Versions.python,
    shapes.Versions.ledger_schema,
    # Fields of the fleet's views (docs/fleet-views.md): the admin API and the dashboard send them as JSON.
    view_shapes.Rental.returned_cabinet,
    view_shapes.UsageDay.hours_out,
    view_shapes.UsageDay.devices_rented,
    view_shapes.UsageDay.devices_idle,
    view_shapes.UsageDay.battery_out_avg,
    view_shapes.UsageDay.battery_in_avg,
    # pyusb calls its backend's methods by name: the simulated bus is one (usb.backend.IBackend).
    SimUsbBackend.enumerate_devices,
    SimUsbBackend.get_parent,
    SimUsbBackend.get_device_descriptor,
    SimUsbBackend.open_device,
    SimUsbBackend.close_device,
    SimUsbBackend.get_configuration,
    SimUsbBackend.set_interface_altsetting,
    SimUsbBackend.release_interface,
    SimUsbBackend.bulk_write,
    SimUsbBackend.bulk_read,
    SimUsbBackend.clear_halt,
    SimUsbBackend.reset_device,
    SimUsbBackend.is_kernel_driver_active,
    SimUsbBackend.detach_kernel_driver,
    SimUsbBackend.attach_kernel_driver,
    # The operators' API (docs/fleet.md): FastAPI calls each route function its router registers.
    stores.list_stores,
    stores.get_store,
    stores.create_store,
    stores.update_store,
    cabinets.list_cabinets,
    cabinets.get_cabinet,
    cabinets.enrol_cabinet,
    cabinets.rotate_token,
    audit_log.list_audit,
    login.logout,
    login.me,
    operator_accounts.list_operators,
    operator_accounts.get_operator,
    operator_accounts.create_operator,
    operator_accounts.update_operator,
    operator_accounts.list_tokens,
    fleet_views.open_rentals,
    fleet_views.overdue,
    fleet_views.lost,
    fleet_views.faults,
    fleet_views.usage_per_day,
    fleet_views.conflicts,
    fleet_views.away_returns,
    fleet_views.devices_status,
    fleet_views.cabinet_slots,
    histories.device_history,
    histories.device_rentals,
    fleet_views.store_summaries,
    histories.cabinet_log,
    # The outbound deliveries' routes (docs/webhooks.md), called by FastAPI.
    endpoints.list_endpoints,
    endpoints.get_endpoint,
    endpoints.create_endpoint,
    endpoints.update_endpoint,
    endpoints.send_test,
    deliveries.list_deliveries,
    deliveries.get_delivery,
    deliveries.retry_delivery,
    repair_api.update_ticket,
    store_notices.get_notices,
    store_notices.put_notices,
    # Reply fields, read by the API's clients.
    endpoints.EndpointOut.signing_secrets,
    deliveries.DeliveryDetail.attempt_log,
    outbox_messages.UserReport.reported_at,
    outbox_messages.AlarmRaised.raised_at,
    # httpcore calls the network backend's methods by name (cabinetcloud/outbox/netguard.py).
    netguard._CheckingBackend.connect_unix_socket,
    # Apprise's DingTalk plugin calls it by name when it signs a message.
    outbox_dingtalk.DingTalkSignedOnce.get_signature,
    # The dashboard's pages (docs/dashboard.md): FastAPI calls each route function its router registers.
    pages.overview,
    signin.login_page,
    fleetpages.attention,
    outbound.endpoint_list,
    outbound.add_endpoint,
    outbound.test_endpoint,
    outbound.switch_endpoint,
    outbound.rotate_endpoint,
    outbound.delivery_list,
    outbound.delivery,
    release_pages.release_list,
    release_pages.roll_out,
    # Signed releases and their rollouts (docs/releases.md): FastAPI calls the routes, pydantic the validator.
    releases.upload_release,
    releases.get_release,
    releases.start_rollout,
    release_shapes.RolloutIn._one_target,
    # App packages (docs/app-packages.md): FastAPI calls the admin routes and the cabinets' download.
    app_packages.upload_app_package,
    app_packages.list_app_packages,
    app_packages.get_app_package,
    app_packages.delete_app_package,
    app_package_download.app_package,
    # The templates ask the catalogue whether it names a value (a command's kind, its status).
    language.Words.has,
    staff.list_staff,
    staff.get_staff,
    staff.create_staff,
    staff.update_staff,
    staff.deactivate_staff,
    work_types.list_work_types,
    work_types.get_work_type,
    work_types.create_work_type,
    work_types.update_work_type,
    work_types.delete_work_type,
    device_models.list_device_models,
    device_models.get_device_model,
    device_models.create_device_model,
    device_models.update_device_model,
    device_models.delete_device_model,
    device_models.list_slot_types,
    devices.get_device,
    devices.create_device,
    devices.update_device,
    devices.deactivate_device,
    commands.list_commands,
    commands.get_command,
    commands.queue_command,
    commands.get_slots,
    # A reply field sent as JSON whether or not our code reads it back.
    models.SyncHealth.clock_skew_flagged,
    fleet_shapes.StaffOut.has_pin,
    # SQLAlchemy's TypeDecorator reads these by name.
    UtcDateTime.impl,
    UtcDateTime.cache_ok,
    UtcDateTime.process_bind_param,
    UtcDateTime.process_result_value,
]


def registered_inside_functions(nested: Any) -> list[object]:
    """Functions a decorator hands to a framework from inside the function that builds it."""
    return [
        nested.fetch_back,  # @app.get: GET /v1/cabinets/{id}/events (cabinetcloud/app.py)
        nested.pending_commands,  # @app.get: GET /v1/cabinets/{id}/commands
        nested._http_error,  # @app.exception_handler: the framework's own errors in our shape
        nested._sign_in,  # @app.exception_handler: a dashboard page without a session leads to the login form
        nested._invalid,  # @app.exception_handler: validation errors as {code, detail} (cabinetcloud/replies.py)
        nested._unavailable,  # @app.exception_handler: a database that cannot be used is 503
        nested._bug,  # @app.exception_handler: the last resort, still in the documented shape
        nested._begin,  # @sa.event.listens_for(engine, "begin"): BEGIN as the storage wants it
    ]


def instance_attributes(
    server: EmbeddedServer,
    member: tarfile.TarInfo,
    row: SlotRow,
    line: Kept,
    device: usb.core.Device,
    switch: Any,
    nested_router: Any,
    dbapi_connection: Any,
    chart: Any,
    tcp_server: Any,
    lexer: Any,
    updates: UpdatesSection,
) -> list[object]:
    return [
        device.default_timeout,  # pyusb's control transfers read it (hal/aoa.py, hal/usbports.py)
        switch.when_activated,  # gpiozero calls a door switch's edge callbacks (hal/gpio.py)
        switch.when_deactivated,
        nested_router.route_class,  # FastAPI builds every route of the cloud's app with this class
        dbapi_connection.isolation_level,  # sqlite3: None hands BEGIN to the storage (cabinetcloud)
        server.should_exit,  # uvicorn's serve loop reads it; ApiServer.cleanup() sets it
        member.mtime,  # tarfile writes a member's time from it (cabinetctl diag bundles)
        row.updated_seq,  # a column of the slots projection, read back whole
        line.ts,  # a kept log line's time, sent to cabinetctl as JSON
        nested_router._pool,  # httpx's transport sends through it: replaced by the SSRF-checking pool
        nested_router.daemon_threads,  # the tests' webhook receiver (http.server reads it)
        nested_router.do_POST,  # http.server calls its handler's methods by name
        nested_router.do_GET,  # the same, in the fake Headwind MDM server (testbed/headwind.py)
        nested_router.do_PUT,
        nested_router.log_message,
        chart.x_labels,  # pygal reads a chart's x axis labels from it (cabinetcloud/dashboard/charts.py)
        tcp_server.daemon_threads,  # socketserver reads it: the fake adb server's connections end with it
        lexer.whitespace_split,  # shlex reads it: the simulated handheld's shell splits words as sh does
        nested_router.close_connection,  # http.server ends the connection after the answer (testbed/releaseserver.py)
        updates.healthy_within_s,  # read by the update unit (cabinetd-update), not by the daemon
    ]
