from stream_mlc.cli import main

raise SystemExit(main())
