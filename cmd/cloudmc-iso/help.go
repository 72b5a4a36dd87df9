package main

// Help texts. Keep them in step with the flags (TestHelpMentionsEveryFlag
// checks) and with the README section "Scripting and integration tests"
// (TestReadmeMatches checks).

const globalHelp = `cloudmc-iso manages the ISOs of a CloudMC environment from the command line.

Usage:
  cloudmc-iso [global flags] <command> [flags] [arguments]

Commands:
  list                          list the ISOs of the environment
  get ISO_ID                    show one ISO
  attach ISO_ID INSTANCE_ID     attach a non-bootable ISO to an instance
  detach INSTANCE_ID            detach the ISO attached to an instance
  download-url ISO_ID           make a download URL for an extractable ISO and print it
  import --name NAME --url URL  import an ISO from an http(s) URL
  delete ISO_ID                 delete an ISO
  task get TASK_ID              show a task
  task wait TASK_ID             wait for a task to finish
  version                       print the version
  help [COMMAND]                show the help of a command (or: COMMAND --help)

Global flags (accepted before or after the command name):
  --url URL             API base URL, e.g. https://cloudmc.example.com/api/v2  [$CLOUDMC_URL]
  --api-key-file FILE   read the API key from FILE          [or $CLOUDMC_API_KEY holds the key]
  --api-key KEY         the API key itself; discouraged, it lands in your shell
                        history and the process list (a warning says so)
  --service CODE        service connection code, e.g. compute-on  [$CLOUDMC_SERVICE]
  --environment NAME    environment name, e.g. test_area          [$CLOUDMC_ENVIRONMENT]
  --org ID              act in this sub-organisation              [$CLOUDMC_ORG]
  -o, --output FORMAT   table (default, for people) or json (for scripts)
  --timeout DURATION    give up after this long, waiting included (default 30m; 0: no limit)
  --insecure-http       allow a plain http:// URL to a host that is not loopback
                        (the key then crosses the network in clear text)
  -h, --help            show help

Flags win over environment variables. The API key is never printed.
The task commands need only the URL and the key.

Output:
  Tables for people by default. With -o json every command prints one JSON
  document on stdout: list {"data": [ISO...], "metadata": {"recordCount": N}},
  get an ISO object with the API's field names (id, name, size, ...), the
  operations a task {"id", "status", "created", "result"}, download-url
  {"isoId", "url", "taskId"}. Errors and progress go to stderr.

Waiting:
  attach, detach, import and delete return as soon as the server has started
  the task, unless --wait is given; download-url always waits. While waiting,
  a progress line shows on stderr if it is a terminal (nothing otherwise).
  --timeout bounds the wait; a task that outlives it goes on running on the
  server: 'cloudmc-iso task wait TASK_ID' picks it up again.

Exit status:
  0    success
  2    usage error: bad flag or argument, missing configuration, an id that is
       not a UUID
  3    API or network error: the server refused the request or was unreachable
  4    not found: no such ISO, instance or task (or wrong service/environment)
  5    the task ended FAILED
  6    timeout: --timeout ran out before the call or the task finished
  7    unauthorized: the server refused the API key (401 or 403)
  130  interrupted (Ctrl-C)

Examples:
  export CLOUDMC_URL=https://cloudmc.example.com/api/v2
  export CLOUDMC_API_KEY=...            # or: --api-key-file ~/.config/cloudmc/key
  export CLOUDMC_SERVICE=compute-on CLOUDMC_ENVIRONMENT=test_area

  cloudmc-iso list
  cloudmc-iso list -o json | jq -r '.data[] | select(.extractable) | .id'
  cloudmc-iso attach 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 c043e651-8b3f-4941-b47f-5ecb77f3423b --wait
  url=$(cloudmc-iso download-url 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 -o json | jq -r .url)

  Try it against a fake server with cloudmc-fake (see 'cloudmc-fake --help').
`

const listHelp = `Usage: cloudmc-iso list [flags]

List the ISOs of the environment (--service, --environment).

Flags:
  --page N            page number, from 1 (default: the server's choice, usually all)
  --page-size N       ISOs per page
  --sort-by FIELD     sort by a field, e.g. name, size, created
  --sort-order ORDER  asc or desc
  and the global flags (cloudmc-iso --help), e.g. -o json

Output:
  table  ID, NAME, SIZE, READY, BOOTABLE, EXTRACTABLE, ZONE, CREATED
  json   {"data": [{"id": ..., "name": ..., "size": ..., ...}], "metadata": {"recordCount": N}}

Examples:
  cloudmc-iso list
  cloudmc-iso list --sort-by size --sort-order desc
  cloudmc-iso list -o json | jq -r '.data[].name'
`

const getHelp = `Usage: cloudmc-iso get ISO_ID [flags]

Show one ISO. Exit status 4 if there is no such ISO.

Flags: the global flags (cloudmc-iso --help), e.g. -o json

Output:
  table  one "Field: value" line per field
  json   the ISO with the API's field names: id, name, description,
         architectureWidth, size (bytes), ready, bootable, availablePublicly,
         extractable, osTypeId, osTypeName, zoneId, zoneName, created,
         availableInZones

Examples:
  cloudmc-iso get 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47
  cloudmc-iso get 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 -o json | jq .size
`

const attachHelp = `Usage: cloudmc-iso attach ISO_ID INSTANCE_ID [flags]

Attach an ISO to an instance. Only a non-bootable ISO can be attached, and an
instance holds at most one ISO.

Flags:
  --wait           wait for the task to finish (see --timeout)
  --from-instance  ask from the instance's side (POST instances/ID?operation=attachIso)
                   instead of the ISO's (POST isos/ID?operation=attach)
  and the global flags (cloudmc-iso --help), e.g. -o json, --timeout 5m

Output: a sentence, or with -o json the task {"id", "status", "created", "result"}.
Without --wait the task is usually PENDING: follow it with 'cloudmc-iso task wait ID'.

Examples:
  cloudmc-iso attach 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 c043e651-8b3f-4941-b47f-5ecb77f3423b --wait
  task=$(cloudmc-iso attach ISO_ID INSTANCE_ID -o json | jq -r .id)
  cloudmc-iso task wait "$task"
`

const detachHelp = `Usage: cloudmc-iso detach INSTANCE_ID [flags]

Detach the ISO attached to an instance.

Flags:
  --wait  wait for the task to finish (see --timeout)
  and the global flags (cloudmc-iso --help), e.g. -o json, --timeout 5m

Output: a sentence, or with -o json the task {"id", "status", "created", "result"}.

Examples:
  cloudmc-iso detach c043e651-8b3f-4941-b47f-5ecb77f3423b --wait
`

const downloadURLHelp = `Usage: cloudmc-iso download-url ISO_ID [flags]

Generate a download URL for an extractable ISO, wait for it and print it.
The command always waits (up to --timeout).

Flags: the global flags (cloudmc-iso --help), e.g. -o json, --timeout 5m

Output:
  table  the URL alone on one line
  json   {"isoId": ..., "url": ..., "taskId": ...}

Examples:
  curl -fsSLo tools.iso "$(cloudmc-iso download-url 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47)"
  cloudmc-iso download-url 5d6c8a4e-7f2b-4c1e-9a3d-2b8e6f1c0a47 -o json | jq -r .url
`

const importHelp = `Usage: cloudmc-iso import --name NAME --url URL [flags]

Import an ISO: the server downloads it from an http(s) URL.

Flags:
  --name NAME         name of the new ISO (required)
  --url URL           where the server downloads the ISO from (required).
                      In this command --url is the ISO's URL: give the API's
                      URL with $CLOUDMC_URL, or as --url before the command name
  --description TEXT  description
  --zone ZONE_ID      zone to import into (required unless the environment has one zone)
  --os-type ID        OS type id (required with --bootable)
  --bootable          the ISO is bootable (a bootable ISO cannot be attached)
  --extractable       the ISO can be downloaded (sent only when given;
                      --extractable=false sends false)
  --wait              wait for the task to finish (see --timeout)
  and the global flags (cloudmc-iso --help), e.g. -o json, --timeout 30m

Output: with --wait the new ISO, or with -o json the task
{"id", "status", "created", "result"} whose result is the new ISO.

Examples:
  cloudmc-iso import --name tools --url http://mirror.example.com/tools.iso --extractable --wait
  id=$(cloudmc-iso import --name tools --url http://mirror.example.com/tools.iso --wait -o json | jq -r .result.id)
`

const deleteHelp = `Usage: cloudmc-iso delete ISO_ID [flags]

Delete an ISO.

Flags:
  --wait  wait for the task to finish (see --timeout)
  and the global flags (cloudmc-iso --help), e.g. -o json, --timeout 5m

Output: a sentence, or with -o json the task {"id", "status", "created", "result"}.

Examples:
  cloudmc-iso delete 0b3fea04-b1ed-48cf-921d-96795dfe9a81 --wait
`

const taskHelp = `Usage: cloudmc-iso task <get|wait> TASK_ID [flags]

Commands:
  get TASK_ID   show a task (exit status 0 whatever its status)
  wait TASK_ID  wait for a task to finish (exit status 5 if it FAILED, 6 on --timeout)

The server keeps tasks for about 30 minutes. These commands need only the URL
and the key, not --service or --environment.

Output:
  table  ID, Status, Created, Result (and Error lines for a failed task)
  json   {"id", "status", "created", "result"} (and "errors" when the task has any)

Examples:
  cloudmc-iso task get 7e0f6a1c-0d3b-4a8e-9c52-1f6b2d4e8a90
  cloudmc-iso task wait 7e0f6a1c-0d3b-4a8e-9c52-1f6b2d4e8a90 --timeout 10m -o json
`

const taskGetHelp = `Usage: cloudmc-iso task get TASK_ID [flags]

Show a task: its status (PENDING, SUCCESS or FAILED), creation time and
result. The exit status is 0 whatever the task's status; use 'task wait' to
turn a FAILED task into exit status 5.

Flags: the global flags (cloudmc-iso --help), e.g. -o json

Output:
  table  ID, Status, Created, Result (and Error lines for a failed task)
  json   {"id", "status", "created", "result"} (and "errors" when the task has any)

Examples:
  cloudmc-iso task get 7e0f6a1c-0d3b-4a8e-9c52-1f6b2d4e8a90
  cloudmc-iso task get 7e0f6a1c-0d3b-4a8e-9c52-1f6b2d4e8a90 -o json | jq -r .status
`

const taskWaitHelp = `Usage: cloudmc-iso task wait TASK_ID [flags]

Wait for a task to finish and show it. Exit status 5 if it ended FAILED,
6 if --timeout ran out first (the task goes on; wait again later).

Flags: the global flags (cloudmc-iso --help), e.g. -o json, --timeout 10m

Output:
  table  ID, Status, Created, Result (and Error lines for a failed task)
  json   {"id", "status", "created", "result"} (and "errors" when the task has any);
         a FAILED task is printed too, before exit status 5

Examples:
  cloudmc-iso task wait 7e0f6a1c-0d3b-4a8e-9c52-1f6b2d4e8a90
  cloudmc-iso task wait 7e0f6a1c-0d3b-4a8e-9c52-1f6b2d4e8a90 --timeout 10m -o json | jq .result
`
