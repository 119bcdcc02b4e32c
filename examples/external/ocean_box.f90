! ocean_box: a small stand-in for an existing climate model (MOM6, NEMO, ...) run by
! Perennial as a `command:` stage. A periodic ring of ocean mixed-layer temperatures, split
! over MPI ranks, relaxed towards a forced profile and diffused. What matters here is what it
! shares with real models, not its physics:
!   * its configuration is a Fortran namelist (input.nml), which Perennial writes from a
!     template filled with the stage's parameters;
!   * it writes restart files, one per rank, every `restart_interval` steps and whenever it
!     gets SIGUSR1, then a marker file once the whole set is on disk (as CESM's rpointer);
!   * started with restart_step > 0 it reads that set and goes on, bit for bit as if it had
!     never stopped;
!   * it prints its progress and a metric on its output, and writes its result to an HDF5
!     file (ocean_out.h5, dataset `sst`).
module ocean_signals
  use, intrinsic :: iso_c_binding
  implicit none
  integer(c_int), volatile :: restart_asked = 0
contains
  subroutine on_usr1(signum) bind(C)
    integer(c_int), value :: signum
    restart_asked = 1
  end subroutine on_usr1
end module ocean_signals

program ocean_box
  use, intrinsic :: iso_c_binding
  use mpi
  use hdf5
  use ocean_signals
  implicit none

  interface
    function c_signal(signum, handler) bind(C, name="signal")
      import :: c_int, c_funptr
      integer(c_int), value :: signum
      type(c_funptr), value :: handler
      type(c_funptr) :: c_signal
    end function c_signal
    function c_usleep(us) bind(C, name="usleep")
      import :: c_int
      integer(c_int), value :: us
      integer(c_int) :: c_usleep
    end function c_usleep
  end interface

  integer :: nx = 64, steps = 1000, restart_step = 0, restart_interval = 0, report_every = 50
  integer :: step_delay_us = 0
  logical :: quiet = .false.   ! write nothing on the output (as models that log to files only)
  double precision :: forcing = 1.0d0, dt = 3600.0d0, kappa = 0.2d0, relax = 0.01d0
  namelist /ocean/ nx, steps, forcing, dt, kappa, relax, restart_step, restart_interval, report_every, step_delay_us, &
    quiet

  integer :: ierr, rank, nranks, first, count, left, right, unit, step, i, asked_anywhere, asked_here
  double precision, allocatable :: t(:), tn(:), target_t(:), global(:)
  double precision :: halo_left, halo_right, local_sum, total, mean, time
  type(c_funptr) :: previous
  integer(c_int) :: slept
  character(len=256) :: name
  integer, allocatable :: counts(:), displs(:)

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  previous = c_signal(10_c_int, c_funloc(on_usr1))  ! SIGUSR1 on Linux

  open(newunit=unit, file='input.nml', status='old', action='read', iostat=ierr)
  if (ierr /= 0) call fail('cannot open input.nml')
  read(unit, nml=ocean, iostat=ierr)
  if (ierr /= 0) call fail('cannot read namelist /ocean/ from input.nml')
  close(unit)
  if (nx < nranks) call fail('nx is smaller than the number of ranks')

  ! Even split of the ring; rank r holds cells first .. first+count-1.
  count = nx / nranks
  first = rank * count + min(rank, mod(nx, nranks)) + 1
  if (rank < mod(nx, nranks)) count = count + 1
  left = mod(rank - 1 + nranks, nranks)
  right = mod(rank + 1, nranks)
  allocate(t(count), tn(count), target_t(count))
  do i = 1, count
    target_t(i) = 290.0d0 + 8.0d0 * sin(2.0d0 * 3.141592653589793d0 * dble(first + i - 2) / dble(nx)) + forcing
  end do

  step = 0
  time = 0.0d0
  t = 285.0d0
  if (restart_step > 0) then
    write(name, '(a,i0,a,i0,a)') 'restart/ocean.', restart_step, '.', rank, '.bin'
    open(newunit=unit, file=trim(name), access='stream', form='unformatted', status='old', action='read', iostat=ierr)
    if (ierr /= 0) call fail('cannot open restart file '//trim(name))
    read(unit, iostat=ierr) step, time, t
    if (ierr /= 0) call fail('cannot read restart file '//trim(name))
    close(unit)
    if (step /= restart_step) call fail('restart file holds another step')
    if (rank == 0 .and. .not. quiet) write(*, '(a,i0)') 'restarted from step ', step
  end if

  do while (step < steps)
    ! Halo exchange on the periodic ring.
    call MPI_Sendrecv(t(count), 1, MPI_DOUBLE_PRECISION, right, 1, halo_left, 1, MPI_DOUBLE_PRECISION, left, 1, &
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    call MPI_Sendrecv(t(1), 1, MPI_DOUBLE_PRECISION, left, 2, halo_right, 1, MPI_DOUBLE_PRECISION, right, 2, &
                      MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    do i = 1, count
      if (i == 1) then
        tn(i) = t(i) + kappa * (halo_left - 2.0d0 * t(i) + merge(t(i + 1), halo_right, count > 1))
      else if (i == count) then
        tn(i) = t(i) + kappa * (t(i - 1) - 2.0d0 * t(i) + halo_right)
      else
        tn(i) = t(i) + kappa * (t(i - 1) - 2.0d0 * t(i) + t(i + 1))
      end if
      tn(i) = tn(i) + relax * (target_t(i) - tn(i))
    end do
    t = tn
    step = step + 1
    time = time + dt
    if (step_delay_us > 0) slept = c_usleep(int(step_delay_us, c_int))

    if (mod(step, report_every) == 0 .or. step == steps) then
      local_sum = sum(t)
      call MPI_Allreduce(local_sum, total, 1, MPI_DOUBLE_PRECISION, MPI_SUM, MPI_COMM_WORLD, ierr)
      mean = total / dble(nx)
      if (rank == 0 .and. .not. quiet) then
        write(*, '(a,i0,a,es23.16,a,f0.10)') 'step ', step, ' time ', time, ' mean_sst=', mean
        flush(6)
      end if
    end if

    ! A restart set at the interval, or when any rank was sent SIGUSR1: every rank agrees.
    asked_here = restart_asked
    call MPI_Allreduce(asked_here, asked_anywhere, 1, MPI_INTEGER, MPI_MAX, MPI_COMM_WORLD, ierr)
    if (step < steps .and. (asked_anywhere /= 0 .or. (restart_interval > 0 .and. mod(step, max(restart_interval, 1)) == 0))) then
      restart_asked = 0
      call write_restart()
    end if
  end do

  ! The result: the whole ring gathered on rank 0 and written to HDF5.
  allocate(counts(nranks), displs(nranks))
  call MPI_Gather(count, 1, MPI_INTEGER, counts, 1, MPI_INTEGER, 0, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    displs(1) = 0
    do i = 2, nranks
      displs(i) = displs(i - 1) + counts(i - 1)
    end do
    allocate(global(nx))
  else
    allocate(global(1))
  end if
  call MPI_Gatherv(t, count, MPI_DOUBLE_PRECISION, global, counts, displs, MPI_DOUBLE_PRECISION, 0, MPI_COMM_WORLD, ierr)
  if (rank == 0) call write_output()
  call MPI_Finalize(ierr)

contains

  subroutine write_restart()
    character(len=256) :: final_name, partial, marker
    integer :: u, e
    call execute_command_line('mkdir -p restart', wait=.true.)
    call MPI_Barrier(MPI_COMM_WORLD, e)
    write(final_name, '(a,i0,a,i0,a)') 'restart/ocean.', step, '.', rank, '.bin'
    partial = trim(final_name)//'.partial'
    open(newunit=u, file=trim(partial), access='stream', form='unformatted', status='replace', action='write')
    write(u) step, time, t
    close(u)
    call rename(trim(partial), trim(final_name))
    call MPI_Barrier(MPI_COMM_WORLD, e)
    if (rank == 0) then
      write(marker, '(a,i0,a)') 'restart/ocean.', step, '.done'
      open(newunit=u, file=trim(marker), status='replace', action='write')
      write(u, '(i0)') nranks
      close(u)
      if (.not. quiet) write(*, '(a,i0)') 'restart written at step ', step
      flush(6)
    end if
  end subroutine write_restart

  subroutine write_output()
    integer(hid_t) :: file_id, space_id, dset_id
    integer(hsize_t) :: dims(1)
    integer :: e
    dims(1) = nx
    call h5open_f(e)
    call h5fcreate_f('ocean_out.h5', H5F_ACC_TRUNC_F, file_id, e)
    call h5screate_simple_f(1, dims, space_id, e)
    call h5dcreate_f(file_id, 'sst', H5T_NATIVE_DOUBLE, space_id, dset_id, e)
    call h5dwrite_f(dset_id, H5T_NATIVE_DOUBLE, global, dims, e)
    call h5dclose_f(dset_id, e)
    call h5sclose_f(space_id, e)
    call h5fclose_f(file_id, e)
    call h5close_f(e)
    if (e /= 0) call fail('cannot write ocean_out.h5')
    if (.not. quiet) write(*, '(a)') 'wrote ocean_out.h5'
  end subroutine write_output

  subroutine fail(message)
    character(len=*), intent(in) :: message
    integer :: e
    write(0, '(a,i0,a,a)') 'ocean_box rank ', rank, ': ', message
    call MPI_Abort(MPI_COMM_WORLD, 2, e)
  end subroutine fail

end program ocean_box
