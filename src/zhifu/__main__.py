from zhifu.cli import main

main()
